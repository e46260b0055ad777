//! The mobile number a WeChat user confirmed through WeChat, sealed, one per account.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::entity::user_phone;
use crate::people::MOBILE_DOMAIN;
use crate::sealed::USER_PHONES_MOBILE;
use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use huigong_core::phone::Mobile;
use huigong_vault::KeyRing;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

/// A confirmed mobile, decrypted. `Debug` shows it masked (through [`Mobile`]).
#[derive(Debug, Clone)]
pub struct ConfirmedPhone {
    pub user_id: Uuid,
    pub mobile: Mobile,
    pub confirmed_at: DateTime<Utc>,
}

/// Records `mobile` as the user's confirmed number (replacing an earlier one) with its audit
/// event, in the caller's transaction.
pub async fn confirm<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    user_id: Uuid,
    mobile: &Mobile,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    user_phone::Entity::insert(user_phone::ActiveModel {
        id: Set(user_id),
        mobile_enc: Set(USER_PHONES_MOBILE.seal(vault, user_id, mobile.as_str())),
        mobile_bidx: Set(vault.blind_index(MOBILE_DOMAIN, mobile.as_str()).to_vec()),
        country_code: Set("86".to_owned()),
        confirmed_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(user_phone::Column::Id)
            .update_columns([
                user_phone::Column::MobileEnc,
                user_phone::Column::MobileBidx,
                user_phone::Column::CountryCode,
                user_phone::Column::ConfirmedAt,
                user_phone::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    audit::record(
        txn,
        actor,
        &Entry {
            action: "user.phone_confirm",
            target_type: "user",
            target_id: Some(user_id.to_string()),
            fields: &["mobile"],
            outcome: Outcome::Success,
        },
        now,
    )
    .await
}

/// [`confirm`] in a write transaction of its own.
pub async fn confirm_now(
    db: &Database,
    vault: &KeyRing,
    user_id: Uuid,
    mobile: &Mobile,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let txn = db.begin_write().await?;
    confirm(&txn, vault, user_id, mobile, actor, now).await?;
    txn.commit().await?;
    Ok(())
}

/// The user's confirmed mobile, if any.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    user_id: Uuid,
) -> Result<Option<ConfirmedPhone>, StoreError> {
    let Some(row) = user_phone::Entity::find_by_id(user_id).one(conn).await? else {
        return Ok(None);
    };
    let text = USER_PHONES_MOBILE
        .open(vault, row.id, &row.mobile_enc)
        .map_err(|e| {
            StoreError::Other(format!("user_phones {}: cannot read mobile: {e}", row.id))
        })?;
    let mobile = Mobile::parse(&text)
        .map_err(|e| StoreError::Other(format!("user_phones {}: bad mobile: {e}", row.id)))?;
    Ok(Some(ConfirmedPhone {
        user_id: row.id,
        mobile,
        confirmed_at: row.confirmed_at,
    }))
}
