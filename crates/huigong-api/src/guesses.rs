//! Guess limits of password and two-factor login (issue 13, item 9), counted in the shared
//! ephemeral store so every instance counts the same attempts.
//!
//! - Every password attempt first **reserves** a failure (atomic `increment`) under two
//!   counters of the current window (`auth.login_window_secs`): one per (username, client
//!   address), one per client address. Only then is the password checked, so of any number of
//!   concurrent guesses at most the limit reach Argon2. A right password gives the attempt back:
//!   it clears the (username, address) counter and takes one off the address counter.
//! - The (username, address) limit (`auth.max_failed_logins_per_account_address`) is the
//!   "lock": 429 `account_locked` until the window ends — but only for that address. The owner
//!   logging in from an address that has not failed is not locked out, so nobody can keep an
//!   account locked from elsewhere. Unknown usernames are counted and answered exactly like
//!   known ones (the counter is keyed by the name as typed, and the password is checked against
//!   a dummy hash), so neither 401 nor 429 tells whether a username exists.
//! - The per-address limit (`auth.max_failed_logins_per_address`) bounds guessing across many
//!   usernames from one address: 429 `too_many_attempts`. Addresses are counted as
//!   [`client_ip`] gives them: an IPv6 client by its /64.
//! - The per-username limit (`auth.max_failed_logins_per_account`) bounds guessing of one
//!   account from many addresses (a botnet): beyond it, in that window, only addresses that
//!   have logged in to that account before may still try (each within its own pair limit);
//!   every other address gets the same 429 `account_locked`. Those addresses are remembered in
//!   the ephemeral store per account for [`KNOWN_ADDRESS_TTL`] after each right password, as a
//!   keyed hash (never the address itself). An unknown username has no such address, so it
//!   locks exactly like a known one under attack.
//! - TOTP and recovery codes have their own counter per account
//!   (`auth.max_failed_second_factor`): whoever gets that far holds the password, and a
//!   six-digit code must not be guessable from many addresses.

use crate::error::ApiError;
use crate::limits::{client_ip, too_many, window};
use crate::state::AppState;
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// The limits of password and two-factor login.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// Length of a counting window, in seconds (the longest a lock lasts).
    pub window_secs: u64,
    /// Failed passwords per (username, client address) per window.
    pub max_failures_per_account_address: u64,
    /// Failed passwords per client address per window, whatever the username.
    pub max_failures_per_address: u64,
    /// Failed TOTP or recovery codes per account per window.
    pub max_second_factor_failures: u64,
    /// Failed passwords per username per window from all addresses together; beyond it only
    /// addresses that logged in to the account before may try.
    pub max_failures_per_account: u64,
}

/// How long an address that logged in to an account is remembered as the owner's.
pub const KNOWN_ADDRESS_TTL: Duration = Duration::from_secs(90 * 86_400);

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            window_secs: 900,
            max_failures_per_account_address: 5,
            max_failures_per_address: 30,
            max_second_factor_failures: 5,
            max_failures_per_account: 50,
        }
    }
}

/// 429 `account_locked`: too many failures for this account (from this address).
pub fn account_locked(retry_after: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
        format!(
            "登录失败次数过多，请 {} 分钟后再试",
            retry_after.div_ceil(60).max(1)
        ),
    )
    .with_retry_after(retry_after)
}

fn current_window(state: &AppState, now: DateTime<Utc>) -> (i64, u64) {
    let len = i64::try_from(state.auth.login.window_secs.max(1)).unwrap_or(900);
    window(now, len, 0)
}

/// A password attempt, reserved as a failure until [`PasswordAttempt::succeeded`].
#[derive(Debug)]
#[must_use = "a right password must give its attempt back"]
pub struct PasswordAttempt {
    pair_key: String,
    address_key: String,
    account_key: String,
    known_key: String,
}

/// Reserves a password attempt of `username` from the request's client address, or refuses
/// it (429) before any password is checked.
pub async fn reserve_password(
    state: &AppState,
    req: &HttpRequest,
    username: &str,
    now: DateTime<Utc>,
) -> Result<PasswordAttempt, ApiError> {
    let ip = client_ip(req);
    let name = URL_SAFE_NO_PAD.encode(
        state
            .vault
            .blind_index("login_username", username)
            .as_bytes(),
    );
    let (index, left) = current_window(state, now);
    let ttl = Duration::from_secs(left + 1);
    let pair_key = format!("login:fail:{name}:{ip}:{index}");
    let address_key = format!("login:fail-ip:{ip}:{index}");
    let account_key = format!("login:fail-user:{name}:{index}");
    let known = URL_SAFE_NO_PAD.encode(
        state
            .vault
            .blind_index("login_known_address", &format!("{name}\n{ip}"))
            .as_bytes(),
    );
    let known_key = format!("login:known:{name}:{known}");
    let store = state.sessions.store();
    let limits = &state.auth.login;
    // A refused attempt is given back at once: it checked nothing, so the count stays at the
    // limit (not above it) and falls as soon as a reserved attempt turns out right.
    if store.increment(&pair_key, ttl).await? > limits.max_failures_per_account_address {
        store.decrement(&pair_key).await?;
        return Err(account_locked(left));
    }
    if store.increment(&account_key, ttl).await? > limits.max_failures_per_account
        && store.get(&known_key).await?.is_none()
    {
        store.decrement(&account_key).await?;
        store.decrement(&pair_key).await?;
        return Err(account_locked(left));
    }
    if store.increment(&address_key, ttl).await? > limits.max_failures_per_address {
        store.decrement(&address_key).await?;
        store.decrement(&account_key).await?;
        store.decrement(&pair_key).await?;
        return Err(too_many("当前网络登录失败次数过多，请稍后再试", left));
    }
    Ok(PasswordAttempt {
        pair_key,
        address_key,
        account_key,
        known_key,
    })
}

impl PasswordAttempt {
    /// The password was right: this attempt does not count, the account's earlier failures
    /// from this address are forgiven, and the address is remembered as the owner's (it may
    /// still try while the account is under attack from elsewhere).
    pub async fn succeeded(self, state: &AppState) -> Result<(), ApiError> {
        let store = state.sessions.store();
        store.delete(&self.pair_key).await?;
        store.decrement(&self.address_key).await?;
        store.decrement(&self.account_key).await?;
        store.set(&self.known_key, b"1", KNOWN_ADDRESS_TTL).await?;
        Ok(())
    }
}

/// A TOTP or recovery-code attempt, reserved as a failure until
/// [`SecondFactorAttempt::succeeded`].
#[derive(Debug)]
#[must_use = "a right code must give its attempt back"]
pub struct SecondFactorAttempt {
    key: String,
}

/// Reserves a second-factor attempt of account `user_id`, or refuses it (429 `account_locked`)
/// before any code is checked.
pub async fn reserve_second_factor(
    state: &AppState,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<SecondFactorAttempt, ApiError> {
    let (index, left) = current_window(state, now);
    let key = format!("login:fail-2fa:{user_id}:{index}");
    let n = state
        .sessions
        .store()
        .increment(&key, Duration::from_secs(left + 1))
        .await?;
    if n > state.auth.login.max_second_factor_failures {
        state.sessions.store().decrement(&key).await?;
        return Err(account_locked(left));
    }
    Ok(SecondFactorAttempt { key })
}

impl SecondFactorAttempt {
    /// The code was right: the account's second-factor failures are forgiven.
    pub async fn succeeded(self, state: &AppState) -> Result<(), ApiError> {
        state.sessions.store().delete(&self.key).await?;
        Ok(())
    }
}
