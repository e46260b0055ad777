//! Two-factor login of administrators: TOTP enrolments and recovery codes.
//!
//! The secret is sealed (`admin_totp.secret_enc`, and `pending_secret_enc` while a new
//! enrolment waits for its first code, so re-enrolling never switches two-factor off). The last
//! accepted time step is kept and only raised by a conditional update, so a code is accepted at
//! most once even by concurrent requests on several instances. Recovery codes are stored as
//! SHA-256 over a per-code random salt and the code; each is spent by a conditional update.

use crate::StoreError;
use crate::entity::{admin_totp, admin_totp_recovery_code as recovery};
use crate::sealed::{ADMIN_TOTP_PENDING_SECRET, ADMIN_TOTP_SECRET, Sealed};
use chrono::{DateTime, Utc};
use huigong_core::totp;
use huigong_vault::KeyRing;
use rand::RngCore as _;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::Zeroizing;

/// Recovery codes handed out per enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (5 bits each: 50 bits).
const RECOVERY_CODE_LEN: usize = 10;
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new random secret, base32 as authenticator apps take it.
pub fn new_secret() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; totp::SECRET_LEN]);
    rand::rng().fill_bytes(bytes.as_mut());
    Zeroizing::new(totp::base32_encode(bytes.as_ref()))
}

/// Fresh recovery codes, shown as `abcde-fghij`.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_LEN];
            rand::rng().fill_bytes(&mut bytes);
            let chars: String = bytes
                .iter()
                .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 0x1f)]))
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// A recovery code as typed: dashes and spaces dropped, lower case.
fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn recovery_hash(salt: &[u8], code: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(normalise_recovery_code(code).as_bytes());
    h.finalize().to_vec()
}

/// An account's enrolment, decrypted.
pub struct Enrolment {
    pub user_id: Uuid,
    /// The confirmed key: two-factor login is on.
    pub active_key: Option<Zeroizing<Vec<u8>>>,
    /// A key waiting for its first code, and its stored form (to confirm exactly this one).
    pub pending: Option<PendingSecret>,
    pub last_step: Option<i64>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("user_id", &self.user_id)
            .field("active", &self.active_key.is_some())
            .field("pending", &self.pending.is_some())
            .field("last_step", &self.last_step)
            .finish()
    }
}

/// A secret waiting for confirmation.
pub struct PendingSecret {
    pub base32: Zeroizing<String>,
    pub key: Zeroizing<Vec<u8>>,
    stored: Sealed,
}

impl Enrolment {
    pub fn is_active(&self) -> bool {
        self.active_key.is_some()
    }
}

fn open_key(
    vault: &KeyRing,
    column: crate::sealed::SealedColumn,
    id: Uuid,
    sealed: &Sealed,
) -> Result<(Zeroizing<String>, Zeroizing<Vec<u8>>), StoreError> {
    let text = column
        .open(vault, id, sealed)
        .map_err(|e| StoreError::Other(format!("admin_totp {id}: cannot read secret: {e}")))?;
    let key = totp::base32_decode(&text)
        .ok_or_else(|| StoreError::Other(format!("admin_totp {id}: secret is not base32")))?;
    Ok((text, Zeroizing::new(key)))
}

/// The account's enrolment, if it ever started one.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    user_id: Uuid,
) -> Result<Option<Enrolment>, StoreError> {
    let Some(row) = admin_totp::Entity::find_by_id(user_id).one(conn).await? else {
        return Ok(None);
    };
    let active_key = row
        .secret_enc
        .as_ref()
        .map(|s| open_key(vault, ADMIN_TOTP_SECRET, row.id, s).map(|(_, key)| key))
        .transpose()?;
    let pending = row
        .pending_secret_enc
        .map(|s| {
            open_key(vault, ADMIN_TOTP_PENDING_SECRET, row.id, &s).map(|(base32, key)| {
                PendingSecret {
                    base32,
                    key,
                    stored: s,
                }
            })
        })
        .transpose()?;
    Ok(Some(Enrolment {
        user_id: row.id,
        active_key,
        pending,
        last_step: row.last_step,
        confirmed_at: row.confirmed_at,
    }))
}

/// Starts (or restarts) an enrolment: `secret` waits for its first code beside any confirmed
/// one, and `recovery_codes` replace the codes of an earlier unconfirmed enrolment.
pub async fn begin_enrolment<C: ConnectionTrait>(
    txn: &C,
    vault: &KeyRing,
    user_id: Uuid,
    secret_base32: &str,
    recovery_codes: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    admin_totp::Entity::insert(admin_totp::ActiveModel {
        id: Set(user_id),
        secret_enc: Set(None),
        pending_secret_enc: Set(Some(ADMIN_TOTP_PENDING_SECRET.seal(
            vault,
            user_id,
            secret_base32,
        ))),
        pending_since: Set(Some(now)),
        confirmed_at: Set(None),
        last_step: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(admin_totp::Column::Id)
            .update_columns([
                admin_totp::Column::PendingSecretEnc,
                admin_totp::Column::PendingSince,
                admin_totp::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    recovery::Entity::delete_many()
        .filter(recovery::Column::UserId.eq(user_id))
        .filter(recovery::Column::Active.eq(false))
        .exec(txn)
        .await?;
    let rows = recovery_codes.iter().map(|code| {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        recovery::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id),
            salt: Set(salt.to_vec()),
            code_hash: Set(recovery_hash(&salt, code)),
            active: Set(false),
            created_at: Set(now),
            used_at: Set(None),
        }
    });
    recovery::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Confirms exactly `pending` (not a newer enrolment made meanwhile): it becomes the account's
/// secret, `step` its last accepted step, and its recovery codes replace the old ones. Returns
/// false when the pending secret changed or went away.
pub async fn activate<C: ConnectionTrait>(
    txn: &C,
    vault: &KeyRing,
    user_id: Uuid,
    pending: &PendingSecret,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sealed = ADMIN_TOTP_SECRET.seal(vault, user_id, &pending.base32);
    let done = admin_totp::Entity::update_many()
        .col_expr(admin_totp::Column::SecretEnc, Expr::value(Some(sealed)))
        .col_expr(
            admin_totp::Column::PendingSecretEnc,
            Expr::value(Option::<Sealed>::None),
        )
        .col_expr(
            admin_totp::Column::PendingSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(admin_totp::Column::ConfirmedAt, Expr::value(now))
        .col_expr(admin_totp::Column::LastStep, Expr::value(step))
        .col_expr(admin_totp::Column::UpdatedAt, Expr::value(now))
        .filter(admin_totp::Column::Id.eq(user_id))
        .filter(admin_totp::Column::PendingSecretEnc.eq(pending.stored.clone()))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Ok(false);
    }
    recovery::Entity::delete_many()
        .filter(recovery::Column::UserId.eq(user_id))
        .filter(recovery::Column::Active.eq(true))
        .exec(txn)
        .await?;
    recovery::Entity::update_many()
        .col_expr(recovery::Column::Active, Expr::value(true))
        .filter(recovery::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(true)
}

/// Records `step` as accepted unless a step as late or later already was: true if this call
/// accepted it. One conditional statement, so two requests with the same code cannot both win.
pub async fn accept_step<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use sea_orm::Condition;
    let done = admin_totp::Entity::update_many()
        .col_expr(admin_totp::Column::LastStep, Expr::value(step))
        .col_expr(admin_totp::Column::UpdatedAt, Expr::value(now))
        .filter(admin_totp::Column::Id.eq(user_id))
        .filter(admin_totp::Column::SecretEnc.is_not_null())
        .filter(
            Condition::any()
                .add(admin_totp::Column::LastStep.is_null())
                .add(admin_totp::Column::LastStep.lt(step)),
        )
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Spends one of the account's confirmed, unused recovery codes: true if `code` was one.
pub async fn use_recovery_code<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let candidates = recovery::Entity::find()
        .filter(recovery::Column::UserId.eq(user_id))
        .filter(recovery::Column::Active.eq(true))
        .filter(recovery::Column::UsedAt.is_null())
        .all(conn)
        .await?;
    let mut matched = None;
    for row in &candidates {
        let equal: bool = recovery_hash(&row.salt, code)
            .as_slice()
            .ct_eq(&row.code_hash)
            .into();
        if equal {
            matched = Some(row.id);
        }
    }
    let Some(id) = matched else {
        return Ok(false);
    };
    let done = recovery::Entity::update_many()
        .col_expr(recovery::Column::UsedAt, Expr::value(now))
        .filter(recovery::Column::Id.eq(id))
        .filter(recovery::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Confirmed recovery codes not used yet.
pub async fn recovery_codes_left<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(recovery::Entity::find()
        .filter(recovery::Column::UserId.eq(user_id))
        .filter(recovery::Column::Active.eq(true))
        .filter(recovery::Column::UsedAt.is_null())
        .count(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_hash_per_salt() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        let code = &codes[0];
        let a = recovery_hash(b"salt-a", code);
        assert_ne!(a, recovery_hash(b"salt-b", code));
        // Typed without the dash, in capitals, it is the same code.
        assert_eq!(
            a,
            recovery_hash(b"salt-a", &code.replace('-', " ").to_uppercase())
        );
    }

    #[test]
    fn secrets_are_160_bits_of_base32() {
        let s = new_secret();
        assert_eq!(
            totp::base32_decode(&s).map(|k| k.len()),
            Some(totp::SECRET_LEN)
        );
        assert_ne!(*s, *new_secret());
    }
}
