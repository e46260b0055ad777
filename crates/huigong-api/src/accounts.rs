//! Taking accounts away (issue 13, item 10): disabling and enabling administrator and
//! merchant-staff accounts, resetting another's password, changing one's own, ending all
//! sessions of an account, unbinding a staff member from its merchant. Every change is audited
//! and ends the account's sessions on every instance at their next request
//! (`Sessions::revoke_all`).
//!
//! Who may act on whom is one rule, in the store (`users::managed_in_scope`): an administrator
//! manages the administrator accounts of orgs strictly below its own, those of its own org with
//! a lower role, and the staff of merchants onboarded within its subtree — never itself. Any
//! other account answers 404, as if it did not exist.

use crate::auth::AdminCaller;
use crate::error::ApiError;
use crate::state::AppState;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use huigong_store::audit::{self, Actor, Entry, Outcome};
use huigong_store::users::{self, ManagedAccount, Manager};
use huigong_store::{StoreError, merchants};
use uuid::Uuid;

/// The manager an administrator is.
pub fn manager(admin: &AdminCaller) -> Manager<'_> {
    Manager {
        user_id: admin.caller.user_id,
        role: admin.caller.role,
        org_id: admin.org_id,
        scope: &admin.scope,
    }
}

/// Account `id` if `admin` manages it; 404 otherwise.
pub async fn find(
    state: &AppState,
    admin: &AdminCaller,
    id: Uuid,
) -> Result<ManagedAccount, ApiError> {
    users::managed_in_scope(&state.db.conn, &manager(admin), id)
        .await?
        .ok_or_else(ApiError::not_found)
}

fn entry(action: &'static str, id: Uuid) -> Entry<'static> {
    Entry {
        action,
        target_type: "user",
        target_id: Some(id.to_string()),
        fields: &[],
        outcome: Outcome::Success,
    }
}

/// Disables (`true`) or enables an account; disabling ends its sessions everywhere. Repeating
/// either is harmless (and ends the sessions again, for a first attempt whose store write
/// failed).
pub async fn set_disabled(
    state: &AppState,
    admin: &AdminCaller,
    actor: &Actor,
    id: Uuid,
    disable: bool,
) -> Result<ManagedAccount, ApiError> {
    let account = find(state, admin, id).await?;
    let now = state.clock.now();
    let disabled_at = disable.then(|| account.user.disabled_at.unwrap_or(now));
    let txn = state.db.begin_write().await?;
    users::set_disabled(&txn, id, disabled_at, now).await?;
    let action = if disable {
        "account.disable"
    } else {
        "account.enable"
    };
    audit::record(&txn, actor, &entry(action, id), now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    if disable {
        state.sessions.revoke_all(id).await?;
    }
    tracing::info!(action, "account status changed");
    find(state, admin, id).await
}

/// Ends every session of an account, on every instance.
pub async fn revoke_sessions(
    state: &AppState,
    admin: &AdminCaller,
    actor: &Actor,
    id: Uuid,
) -> Result<(), ApiError> {
    find(state, admin, id).await?;
    let now = state.clock.now();
    state.sessions.revoke_all(id).await?;
    let txn = state.db.begin_write().await?;
    audit::record(&txn, actor, &entry("account.sessions_revoke", id), now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    tracing::info!("all sessions of an account revoked");
    Ok(())
}

/// A random password that meets the policy: 20 characters of four classes.
fn temporary_password() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"-_.!@#%+=";
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let set = [LOWER, UPPER, DIGITS, SYMBOLS][i % 4];
            char::from(set[usize::from(*b) % set.len()])
        })
        .collect()
}

/// Resets another's password to a random temporary one (returned, shown once): its sessions
/// end, and its next login can only change the password.
pub async fn reset_password(
    state: &AppState,
    admin: &AdminCaller,
    actor: &Actor,
    id: Uuid,
) -> Result<String, ApiError> {
    let account = find(state, admin, id).await?;
    if account.user.username.is_none() {
        return Err(ApiError::not_found());
    }
    let password = temporary_password();
    let hash = crate::password::hash_off_thread(password.clone()).await?;
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    users::set_password(&txn, id, hash, true, now).await?;
    audit::record(&txn, actor, &entry("account.password_reset", id), now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    state.sessions.revoke_all(id).await?;
    tracing::info!("password reset by an administrator");
    Ok(password)
}

/// Changes one's own password (the old one checked, counted like a login attempt): every
/// session of the account ends, the caller gets a new one.
pub async fn change_own_password(
    state: &AppState,
    req: &actix_web::HttpRequest,
    actor: &Actor,
    user_id: Uuid,
    old_password: String,
    new_password: String,
) -> Result<users::User, ApiError> {
    let now = state.clock.now();
    let user = users::find(&state.db, user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let Some(username) = user.username.clone() else {
        return Err(ApiError::forbidden());
    };
    let account = users::find_credentials(&state.db, &username)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let attempt = crate::guesses::reserve_password(state, req, &username, now).await?;
    if !crate::password::verify_off_thread(account.password_hash.clone(), old_password.clone())
        .await?
    {
        return Err(ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "old_password_wrong",
            "原密码错误",
        )
        .with_field("old_password"));
    }
    attempt.succeeded(state).await?;
    if new_password == old_password {
        return Err(ApiError::invalid_field(
            "new_password",
            "新密码不能与原密码相同",
        ));
    }
    crate::password::check_policy(&new_password).map_err(|_| {
        ApiError::invalid_field(
            "new_password",
            "密码须为 10–128 位，且包含小写字母、大写字母、数字、符号中的至少三类",
        )
    })?;
    let hash = crate::password::hash_off_thread(new_password).await?;
    let txn = state.db.begin_write().await?;
    users::set_password(&txn, user_id, hash, false, now).await?;
    audit::record(&txn, actor, &entry("account.password_change", user_id), now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    state.sessions.revoke_all(user_id).await?;
    tracing::info!("password changed by its owner");
    users::find(&state.db, user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)
}

/// Unbinds a staff account from merchant `merchant_id` (in the admin's scope): it is disabled
/// too (an unbound staff account has no use and no manager) and its sessions end everywhere;
/// this instance forgets its copy of the binding at once.
pub async fn unbind_staff(
    state: &AppState,
    admin: &AdminCaller,
    actor: &Actor,
    merchant_id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let account = find(state, admin, user_id).await?;
    if account.merchant_id != Some(merchant_id) {
        return Err(ApiError::not_found());
    }
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    if !merchants::unbind_staff(&txn, user_id, merchant_id).await? {
        return Err(ApiError::not_found());
    }
    users::set_disabled(&txn, user_id, Some(now), now).await?;
    audit::record(&txn, actor, &entry("merchant.staff_unbind", user_id), now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    state.merchant_views.forget_staff(user_id);
    state.sessions.revoke_all(user_id).await?;
    tracing::info!("staff unbound from its merchant");
    Ok(())
}
