//! Personal-data protection for Huigong.
//!
//! * [`KeyRing`]: AES-256-GCM encryption of single values. Every ciphertext carries a format
//!   version and the id of the key that sealed it, so keys can rotate; the nonce is random; the
//!   associated data binds the value to its table, column and row ([`FieldContext`]), so a
//!   ciphertext copied onto another row or column does not decrypt.
//! * Blind indexes: keyed HMAC-SHA256 over a normalised value, with a key separate from the
//!   encryption keys, for exact lookup and uniqueness ("one person, one membership") without
//!   storing the value.
//! * [`qr`]: signed, short-lived tokens for the 惠工卡's live QR code (HMAC-SHA256 with a key
//!   of their own).
//! * [`KeyMaterial`]: keys as configuration text (base64), generation of fresh sets.
//! * [`derived`]: the audit chain's MAC keys and the keys' fingerprints, derived from the ring.
//!
//! Key bytes are zeroized on drop and never printed: every `Debug` here shows `[redacted]`.

pub mod derived;
mod keys;
pub mod qr;
mod ring;

pub use derived::{ChainHasher, ChainKeys, KeyName};
pub use keys::{Key, KeyMaterial, KeyMaterialError};
pub use ring::{BlindIndex, Ciphertext, FORMAT_VERSION, FieldContext, KeyRing, VaultError};
