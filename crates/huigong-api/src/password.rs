//! Administrator passwords: Argon2id (~17 ms a hash here), always off the async workers.

use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::OnceLock;

/// Hashes a password (blocking: call through [`hash_off_thread`]).
fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC string (blocking). Unreadable hashes never match.
fn verify(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so the answer takes as long
/// either way and does not reveal which usernames exist.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("huigong-dummy-password-for-timing").unwrap_or_default())
}

/// Hashes on the blocking pool.
pub async fn hash_off_thread(password: String) -> Result<String, ApiError> {
    actix_web::web::block(move || hash(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

/// Verifies on the blocking pool; `None` verifies against the dummy hash and fails.
pub async fn verify_off_thread(phc: Option<String>, password: String) -> Result<bool, ApiError> {
    actix_web::web::block(move || match phc {
        Some(phc) => verify(&phc, &password),
        None => {
            let _ = verify(dummy_hash(), &password);
            false
        }
    })
    .await
    .map_err(|e| ApiError::internal(&e))
}

/// The password rule for administrator accounts (GB/T 22239 level 3 asks for complexity):
/// 10–128 characters with at least three of lower case, upper case, digits and symbols.
pub fn check_policy(password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if !(10..=128).contains(&len) || classes < 3 {
        return Err(ApiError::invalid_field(
            "password",
            "密码须为 10–128 位，且包含小写字母、大写字母、数字、符号中的至少三类",
        ));
    }
    Ok(())
}

/// Hashes synchronously, for the `huigong admin create` command.
pub fn hash_blocking(password: &str) -> Result<String, String> {
    hash(password)
}

/// A new account's credentials, checked and hashed: the trimmed username (3–32 letters, digits,
/// `_`, `.` or `-`) and the Argon2id hash of a password that meets [`check_policy`].
pub async fn new_credentials(
    username: &str,
    password: String,
) -> Result<(String, String), ApiError> {
    let username = username.trim().to_owned();
    let valid_name = (3..=32).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid_name {
        return Err(ApiError::invalid_field(
            "username",
            "用户名须为 3–32 位字母、数字或 _ . -",
        ));
    }
    check_policy(&password)?;
    let hash = hash_off_thread(password).await?;
    Ok((username, hash))
}

/// Creates an account in the caller's transaction; a username already in use is 409
/// `username_taken` naming `username`.
pub async fn create_account(
    txn: &huigong_store::DatabaseTransaction,
    account: huigong_store::users::NewAccount<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<huigong_store::users::User, ApiError> {
    match huigong_store::users::create_account(txn, account, now).await {
        Err(huigong_store::StoreError::Conflict) => Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "username_taken",
            "用户名已被使用",
        )
        .with_field("username")),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash("Correct-Horse-1").unwrap_or_default();
        let b = hash("Correct-Horse-1").unwrap_or_default();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify(&a, "Correct-Horse-1"));
        assert!(!verify(&a, "correct-horse-1"));
        assert!(!verify("not a hash", "Correct-Horse-1"));
    }

    #[test]
    fn policy_wants_length_and_three_classes() {
        assert!(check_policy("Abcdefgh12").is_ok());
        assert!(check_policy("abcdefgh12").is_err());
        assert!(check_policy("Ab1!").is_err());
        assert!(check_policy("abcdefgh1!").is_ok());
    }
}
