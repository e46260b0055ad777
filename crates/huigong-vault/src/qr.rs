//! Live QR-code tokens for the 惠工卡: short, signed, short-lived.
//!
//! A token is `base64url(version | card id | expiry | nonce | tag)` without padding:
//! one version byte, the card's 16-byte UUID, the expiry as 4-byte big-endian Unix seconds, an
//! 8-byte random nonce, and the first 16 bytes of HMAC-SHA256 over everything before it, with a
//! key of its own (never the session or vault keys). 45 bytes, 60 characters: a small QR code.
//!
//! Verification is pure (the caller passes "now"), checks the tag in constant time before
//! reading anything else, and tells forged or malformed tokens (`Invalid`) from expired ones.
//! That a token is redeemed only once is the store's business (the nonce is the key).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

/// Format version of the token.
pub const QR_TOKEN_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const BODY_LEN: usize = 1 + 16 + 4 + 8;
const TOKEN_LEN: usize = BODY_LEN + TAG_LEN;
/// Characters in a token's text form.
pub const QR_TOKEN_CHARS: usize = (TOKEN_LEN * 4).div_ceil(3);

/// The shortest accepted key, in bytes.
pub const QR_KEY_MIN_LEN: usize = 32;

/// The HMAC key for QR tokens. Its `Debug` shows `[redacted]`; zeroized on drop.
pub struct QrKey(Zeroizing<Vec<u8>>);

impl fmt::Debug for QrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QrKey([redacted])")
    }
}

/// A key that is too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the QR token key must be at least {QR_KEY_MIN_LEN} bytes")]
pub struct QrKeyTooShort;

impl QrKey {
    /// A key from configuration text (its UTF-8 bytes), at least 32 bytes long.
    pub fn new(secret: &[u8]) -> Result<Self, QrKeyTooShort> {
        if secret.len() < QR_KEY_MIN_LEN {
            return Err(QrKeyTooShort);
        }
        Ok(Self(Zeroizing::new(secret.to_vec())))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts every key length"),
        }
    }
}

/// What a valid token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QrClaims {
    pub card_id: Uuid,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
    pub nonce: [u8; 8],
}

impl QrClaims {
    /// The nonce as 16 hex digits (the one-time key of a redemption).
    pub fn nonce_hex(&self) -> String {
        self.nonce.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The id of the verification made with this token: derived under the key from the card and
/// the nonce, so a token names one verification wherever it is scanned, and nobody without the
/// key can compute it (a UUID of version 8).
pub fn verification_id(key: &QrKey, claims: &QrClaims) -> Uuid {
    let mut mac = key.mac();
    mac.update(b"huigong verification id\0");
    mac.update(claims.card_id.as_bytes());
    mac.update(&claims.nonce);
    let out = mac.finalize().into_bytes();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&out[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QrTokenError {
    /// Not a token of ours: malformed, wrong version, or the tag does not match.
    #[error("invalid QR token")]
    Invalid,
    /// Genuine, but past its expiry.
    #[error("expired QR token")]
    Expired,
}

/// Signs a token for `claims`.
pub fn encode(key: &QrKey, claims: &QrClaims) -> String {
    let mut bytes = Vec::with_capacity(TOKEN_LEN);
    bytes.push(QR_TOKEN_VERSION);
    bytes.extend_from_slice(claims.card_id.as_bytes());
    let expiry = u32::try_from(claims.expires_at.max(0)).unwrap_or(u32::MAX);
    bytes.extend_from_slice(&expiry.to_be_bytes());
    bytes.extend_from_slice(&claims.nonce);
    let mut mac = key.mac();
    mac.update(&bytes);
    let tag = mac.finalize().into_bytes();
    bytes.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token for `card_id` valid until `expires_at` (Unix seconds), with a fresh random nonce.
pub fn issue(key: &QrKey, card_id: Uuid, expires_at: i64) -> String {
    let mut nonce = [0u8; 8];
    rand::rng().fill_bytes(&mut nonce);
    encode(
        key,
        &QrClaims {
            card_id,
            expires_at,
            nonce,
        },
    )
}

/// Checks a token's form, tag and expiry at `now` (Unix seconds).
pub fn verify(key: &QrKey, token: &str, now: i64) -> Result<QrClaims, QrTokenError> {
    if token.len() != QR_TOKEN_CHARS {
        return Err(QrTokenError::Invalid);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .map_err(|_| QrTokenError::Invalid)?;
    if bytes.len() != TOKEN_LEN {
        return Err(QrTokenError::Invalid);
    }
    let (body, tag) = bytes.split_at(BODY_LEN);
    let mut mac = key.mac();
    mac.update(body);
    mac.verify_truncated_left(tag)
        .map_err(|_| QrTokenError::Invalid)?;
    if body[0] != QR_TOKEN_VERSION {
        return Err(QrTokenError::Invalid);
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&body[1..17]);
    let mut expiry = [0u8; 4];
    expiry.copy_from_slice(&body[17..21]);
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&body[21..29]);
    let claims = QrClaims {
        card_id: Uuid::from_bytes(id),
        expires_at: i64::from(u32::from_be_bytes(expiry)),
        nonce,
    };
    if now >= claims.expires_at {
        return Err(QrTokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> QrKey {
        QrKey::new(b"test-only-qr-key-0123456789abcdef").unwrap_or_else(|e| panic!("{e}"))
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_token_round_trips_and_is_compact() {
        let card = Uuid::now_v7();
        let token = issue(&key(), card, NOW + 30);
        assert_eq!(token.len(), QR_TOKEN_CHARS);
        assert_eq!(token.len(), 60);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let claims = verify(&key(), &token, NOW).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claims.card_id, card);
        assert_eq!(claims.expires_at, NOW + 30);
        assert_ne!(issue(&key(), card, NOW + 30), token, "nonces differ");
    }

    #[test]
    fn a_token_names_one_verification_that_only_the_key_computes() {
        let claims = QrClaims {
            card_id: Uuid::now_v7(),
            expires_at: NOW + 30,
            nonce: [7; 8],
        };
        let id = verification_id(&key(), &claims);
        assert_eq!(
            id,
            verification_id(&key(), &claims),
            "the same token, the same id"
        );
        assert_eq!(id.get_version_num(), 8);
        let other_nonce = QrClaims {
            nonce: [8; 8],
            ..claims
        };
        assert_ne!(id, verification_id(&key(), &other_nonce));
        let other_card = QrClaims {
            card_id: Uuid::now_v7(),
            ..claims
        };
        assert_ne!(id, verification_id(&key(), &other_card));
        let other_key =
            QrKey::new(b"another-test-qr-key-0123456789abc").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(id, verification_id(&other_key, &claims));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let token = issue(&key(), Uuid::now_v7(), NOW + 30);
        assert!(verify(&key(), &token, NOW + 29).is_ok());
        assert_eq!(verify(&key(), &token, NOW + 30), Err(QrTokenError::Expired));
        assert_eq!(
            verify(&key(), &token, NOW + 600),
            Err(QrTokenError::Expired)
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let token = issue(&key(), Uuid::now_v7(), NOW + 30);
        let other =
            QrKey::new(b"another-key-of-at-least-32-bytes!").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verify(&other, &token, NOW), Err(QrTokenError::Invalid));
        // Every single changed byte (card id, expiry, nonce, tag) is caught.
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap_or_default();
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            let forged = URL_SAFE_NO_PAD.encode(&changed);
            assert_eq!(
                verify(&key(), &forged, NOW),
                Err(QrTokenError::Invalid),
                "byte {i}"
            );
        }
        // A later expiry signed with another key does not pass either.
        let claims = verify(&key(), &token, NOW).unwrap_or_else(|e| panic!("{e}"));
        let extended = encode(
            &other,
            &QrClaims {
                expires_at: NOW + 3600,
                ..claims
            },
        );
        assert_eq!(verify(&key(), &extended, NOW), Err(QrTokenError::Invalid));
    }

    #[test]
    fn malformed_tokens_are_invalid() {
        let token = issue(&key(), Uuid::now_v7(), NOW + 30);
        for bad in [
            "",
            "abc",
            &token[..59],
            &format!("{token}A"),
            &token.replace(|c: char| c.is_ascii_alphabetic(), "*"),
            &"A".repeat(60),
        ] {
            assert_eq!(
                verify(&key(), bad, NOW),
                Err(QrTokenError::Invalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert_eq!(QrKey::new(b"short").err(), Some(QrKeyTooShort));
        assert_eq!(format!("{:?}", key()), "QrKey([redacted])");
    }
}
