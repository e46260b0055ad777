//! Key rotation: re-encrypts every value of every encrypted column that is not sealed with the
//! active key, in small batches, each its own transaction, while the service keeps serving.
//!
//! Resumable: values already under the active key are skipped, so an interrupted run is simply
//! started again. A row changed by the service meanwhile is not overwritten (each update is
//! conditional on the ciphertext it read); the next run picks it up if it still needs it.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::sealed::{SEALED_COLUMNS, Sealed, SealedColumn};
use crate::{Database, StoreError};
use chrono::Utc;
use huigong_vault::{Ciphertext, KeyRing};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use uuid::Uuid;

/// Progress of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ColumnProgress {
    pub table: &'static str,
    pub column: &'static str,
    /// Values looked at.
    pub scanned: u64,
    /// Values re-encrypted with the active key.
    pub resealed: u64,
    /// Values changed by someone else between read and write (left for the next run).
    pub skipped: u64,
}

/// Rotates every column in [`SEALED_COLUMNS`]. `on_batch` sees progress after every batch.
pub async fn rotate(
    db: &Database,
    vault: &KeyRing,
    batch_size: u64,
    mut on_batch: impl FnMut(&ColumnProgress),
) -> Result<Vec<ColumnProgress>, StoreError> {
    let mut report = Vec::new();
    for column in SEALED_COLUMNS {
        let progress = rotate_column(
            db,
            vault,
            column,
            std::cmp::max(batch_size, 1),
            &mut on_batch,
        )
        .await?;
        report.push(progress);
    }
    let txn = db.begin_write().await?;
    let resealed: u64 = report.iter().map(|p| p.resealed).sum();
    audit::record(
        &txn,
        &Actor::system(),
        &Entry {
            action: "vault.rotate",
            target_type: "vault",
            target_id: Some(format!("key {} ({resealed} values)", vault.active_key_id())),
            fields: &[],
            outcome: Outcome::Success,
        },
        Utc::now(),
    )
    .await?;
    txn.commit().await?;
    Ok(report)
}

async fn rotate_column(
    db: &Database,
    vault: &KeyRing,
    column: &SealedColumn,
    batch_size: u64,
    on_batch: &mut impl FnMut(&ColumnProgress),
) -> Result<ColumnProgress, StoreError> {
    let mut progress = ColumnProgress {
        table: column.table,
        column: column.column,
        ..Default::default()
    };
    let mut cursor = Uuid::nil();
    loop {
        let select = Query::select()
            .columns([Alias::new("id"), Alias::new(column.column)])
            .from(Alias::new(column.table))
            .and_where(Expr::col(Alias::new("id")).gt(cursor))
            .and_where(Expr::col(Alias::new(column.column)).is_not_null())
            .order_by(Alias::new("id"), sea_orm::Order::Asc)
            .limit(batch_size)
            .to_owned();
        let rows = db.conn.query_all(&select).await?;
        if rows.is_empty() {
            break;
        }
        let txn = db.begin_write().await?;
        for row in &rows {
            let id: Uuid = row.try_get("", "id")?;
            let bytes: Vec<u8> = row.try_get("", column.column)?;
            cursor = id;
            progress.scanned += 1;
            let ciphertext = Ciphertext::from_bytes(bytes.clone()).map_err(|e| {
                StoreError::Other(format!("{}.{} of {id}: {e}", column.table, column.column))
            })?;
            let resealed = vault.reseal(&column.at(id), &ciphertext).map_err(|e| {
                StoreError::Other(format!("{}.{} of {id}: {e}", column.table, column.column))
            })?;
            let Some(resealed) = resealed else { continue };
            let new = Sealed::from_stored(resealed.into_bytes());
            let update = Query::update()
                .table(Alias::new(column.table))
                .value(Alias::new(column.column), new.as_bytes().to_vec())
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .and_where(Expr::col(Alias::new(column.column)).eq(bytes))
                .to_owned();
            let result = txn.execute(&update).await?;
            if result.rows_affected() == 1 {
                progress.resealed += 1;
            } else {
                progress.skipped += 1;
            }
        }
        txn.commit().await?;
        on_batch(&progress);
        if (rows.len() as u64) < batch_size {
            break;
        }
    }
    Ok(progress)
}
