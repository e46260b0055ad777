//! The key ring: sealing and opening values, blind indexes.

use crate::derived::{ChainKeys, KeyName};
use crate::keys::{Key, KeyMaterial};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The ciphertext layout: `[version: 1][key id: 2, big-endian][nonce: 12][AES-GCM output]`.
pub const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 2 + 12;
const TAG_LEN: usize = 16;
/// Prefix of the associated data, so our ciphertexts mean nothing to another protocol.
const AAD_PREFIX: &[u8] = b"huigong-vault-v1";

/// Where a value lives. It is bound into the ciphertext as associated data, so the ciphertext
/// only opens at the same table, column and row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldContext<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row: Uuid,
}

impl FieldContext<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut aad =
            Vec::with_capacity(AAD_PREFIX.len() + self.table.len() + self.column.len() + 20);
        for part in [AAD_PREFIX, self.table.as_bytes(), self.column.as_bytes()] {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            aad.extend_from_slice(&(part.len() as u16).to_be_bytes());
            aad.extend_from_slice(part);
        }
        aad.extend_from_slice(self.row.as_bytes());
        aad
    }
}

/// A sealed value as stored: opaque bytes. `Debug` shows only the key id and length.
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext(Vec<u8>);

impl Ciphertext {
    /// Wraps stored bytes, checking the header (not the content: that needs the key).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, VaultError> {
        if bytes.len() < HEADER_LEN + TAG_LEN || bytes[0] != FORMAT_VERSION {
            return Err(VaultError::Malformed);
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The id of the key that sealed this value.
    pub fn key_id(&self) -> u16 {
        u16::from_be_bytes([self.0[1], self.0[2]])
    }
}

impl fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Ciphertext(key {}, {} bytes)",
            self.key_id(),
            self.0.len()
        )
    }
}

/// A blind index: HMAC-SHA256 of a normalised value under the blind-index key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlindIndex([u8; 32]);

impl BlindIndex {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlindIndex({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Sealing or opening failed. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// Not a ciphertext of a format this version knows.
    #[error("malformed ciphertext")]
    Malformed,
    /// The ciphertext names a key the ring does not hold.
    #[error("ciphertext sealed with key {0}, which is not configured")]
    UnknownKey(u16),
    /// Authentication failed: wrong key, tampered bytes, or another table/column/row.
    #[error("ciphertext does not open here (tampered, or moved from another row)")]
    Rejected,
    /// The opened bytes are not UTF-8 text.
    #[error("opened value is not text")]
    NotText,
}

/// Encryption keys by id, the active one, and the blind-index key.
pub struct KeyRing {
    ciphers: BTreeMap<u16, Aes256Gcm>,
    active: u16,
    blind_index: Key,
    chain: ChainKeys,
    fingerprints: Vec<(KeyName, [u8; 32])>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.ciphers.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    pub fn new(material: &KeyMaterial) -> Self {
        let ciphers = material
            .encryption
            .iter()
            .map(|(id, key)| (*id, Aes256Gcm::new(key.bytes().into())))
            .collect();
        Self {
            ciphers,
            active: material.active,
            blind_index: material.blind_index.clone(),
            chain: ChainKeys::from_material(material),
            fingerprints: crate::derived::fingerprints(material),
        }
    }

    /// The audit chain's MAC keys, derived from the encryption keys (see [`crate::derived`]).
    pub fn chain_keys(&self) -> &ChainKeys {
        &self.chain
    }

    /// The fingerprint of every key of the ring (see [`crate::derived`]).
    pub fn fingerprints(&self) -> &[(KeyName, [u8; 32])] {
        &self.fingerprints
    }

    /// The id of the key new values are sealed with.
    pub fn active_key_id(&self) -> u16 {
        self.active
    }

    /// Encrypts `plaintext` for `context` with the active key and a random nonce.
    pub fn seal(&self, context: &FieldContext<'_>, plaintext: &[u8]) -> Ciphertext {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = context.associated_data();
        let cipher = &self.ciphers[&self.active];
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // AES-GCM encryption fails only for inputs beyond 64 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.active.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ciphertext(out)
    }

    /// Decrypts a value sealed for exactly this `context`.
    pub fn open(
        &self,
        context: &FieldContext<'_>,
        ciphertext: &Ciphertext,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let bytes = ciphertext.as_bytes();
        let key_id = ciphertext.key_id();
        let cipher = self
            .ciphers
            .get(&key_id)
            .ok_or(VaultError::UnknownKey(key_id))?;
        let aad = context.associated_data();
        let nonce: [u8; 12] = bytes[3..HEADER_LEN]
            .try_into()
            .map_err(|_| VaultError::Malformed)?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &bytes[HEADER_LEN..],
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Rejected)
    }

    /// As [`KeyRing::open`], for text.
    pub fn open_text(
        &self,
        context: &FieldContext<'_>,
        ciphertext: &Ciphertext,
    ) -> Result<Zeroizing<String>, VaultError> {
        let mut bytes = self.open(context, ciphertext)?;
        let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
            let mut raw = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut raw);
            VaultError::NotText
        })?;
        Ok(Zeroizing::new(text))
    }

    /// Re-encrypts with the active key when sealed with another; `None` when already current.
    pub fn reseal(
        &self,
        context: &FieldContext<'_>,
        ciphertext: &Ciphertext,
    ) -> Result<Option<Ciphertext>, VaultError> {
        if ciphertext.key_id() == self.active {
            return Ok(None);
        }
        let plaintext = self.open(context, ciphertext)?;
        Ok(Some(self.seal(context, &plaintext)))
    }

    /// The blind index of an already normalised `value` in `domain` (for example
    /// `"people.id_number"`): equal values in one domain give equal indexes, and nothing
    /// about the value can be learnt from the index without the key.
    pub fn blind_index(&self, domain: &str, value: &str) -> BlindIndex {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.blind_index.bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(&(domain.len() as u16).to_be_bytes());
        mac.update(domain.as_bytes());
        mac.update(value.as_bytes());
        BlindIndex(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring() -> KeyRing {
        KeyRing::new(&KeyMaterial::generate())
    }

    fn ctx(row: Uuid) -> FieldContext<'static> {
        FieldContext {
            table: "people",
            column: "id_number_enc",
            row,
        }
    }

    #[test]
    fn sealed_values_open_in_their_own_place_only() {
        let ring = ring();
        let row = Uuid::now_v7();
        let sealed = ring.seal(&ctx(row), b"11010519491231002X");
        assert_eq!(
            ring.open(&ctx(row), &sealed).map(|v| v.to_vec()),
            Ok(b"11010519491231002X".to_vec())
        );
        // Copied onto another row, or another column of the same row: refused.
        assert_eq!(
            ring.open(&ctx(Uuid::now_v7()), &sealed).err(),
            Some(VaultError::Rejected)
        );
        let other_column = FieldContext {
            column: "name_enc",
            ..ctx(row)
        };
        assert_eq!(
            ring.open(&other_column, &sealed).err(),
            Some(VaultError::Rejected)
        );
    }

    #[test]
    fn the_same_value_seals_differently_every_time() {
        let ring = ring();
        let row = Uuid::now_v7();
        let a = ring.seal(&ctx(row), b"13800138000");
        let b = ring.seal(&ctx(row), b"13800138000");
        assert_ne!(a, b);
        assert!(!a.as_bytes().windows(11).any(|w| w == b"13800138000"));
    }

    #[test]
    fn tampering_with_any_byte_is_detected() {
        let ring = ring();
        let row = Uuid::now_v7();
        let sealed = ring.seal(&ctx(row), "张三".as_bytes());
        for i in 3..sealed.as_bytes().len() {
            let mut bytes = sealed.as_bytes().to_vec();
            bytes[i] ^= 0x01;
            let tampered = Ciphertext::from_bytes(bytes).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                ring.open(&ctx(row), &tampered).err(),
                Some(VaultError::Rejected),
                "byte {i}"
            );
        }
    }

    #[test]
    fn malformed_and_foreign_ciphertexts_are_refused() {
        assert_eq!(
            Ciphertext::from_bytes(vec![1, 0, 1]).err(),
            Some(VaultError::Malformed)
        );
        assert_eq!(
            Ciphertext::from_bytes(vec![2; 40]).err(),
            Some(VaultError::Malformed)
        );
        let sealed = ring().seal(&ctx(Uuid::nil()), b"x");
        // Another ring whose key 1 is different.
        assert_eq!(
            ring().open(&ctx(Uuid::nil()), &sealed).err(),
            Some(VaultError::Rejected)
        );
        let mut material = KeyMaterial::generate();
        material.encryption.clear();
        material.encryption.insert(7, Key::generate());
        material.active = 7;
        assert_eq!(
            KeyRing::new(&material)
                .open(&ctx(Uuid::nil()), &sealed)
                .err(),
            Some(VaultError::UnknownKey(1))
        );
    }

    #[test]
    fn rotation_reseals_old_values_under_the_new_key() {
        let mut material = KeyMaterial::generate();
        let old = KeyRing::new(&material);
        let row = Uuid::now_v7();
        let sealed = old.seal(&ctx(row), b"330522199001011234");
        assert_eq!(sealed.key_id(), 1);
        material.add_new_active_key();
        let new = KeyRing::new(&material);
        let resealed = new
            .reseal(&ctx(row), &sealed)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("an old value must be resealed"));
        assert_eq!(resealed.key_id(), 2);
        assert_eq!(
            new.open(&ctx(row), &resealed).map(|v| v.to_vec()),
            Ok(b"330522199001011234".to_vec())
        );
        assert_eq!(new.reseal(&ctx(row), &resealed), Ok(None));
        // The old ring cannot read the new ciphertext.
        assert_eq!(
            old.open(&ctx(row), &resealed).err(),
            Some(VaultError::UnknownKey(2))
        );
    }

    #[test]
    fn blind_indexes_are_stable_per_key_and_domain() {
        let material = KeyMaterial::generate();
        let ring = KeyRing::new(&material);
        let again = KeyRing::new(&material);
        let a = ring.blind_index("people.id_number", "11010519491231002X");
        assert_eq!(
            a,
            again.blind_index("people.id_number", "11010519491231002X")
        );
        assert_ne!(a, ring.blind_index("people.mobile", "11010519491231002X"));
        assert_ne!(
            a,
            ring.blind_index("people.id_number", "110105194912310030")
        );
        assert_ne!(
            a,
            KeyRing::new(&KeyMaterial::generate())
                .blind_index("people.id_number", "11010519491231002X")
        );
        // Domain and value are separated: ("ab", "c") differs from ("a", "bc").
        assert_ne!(ring.blind_index("ab", "c"), ring.blind_index("a", "bc"));
    }

    proptest! {
        #[test]
        fn any_text_round_trips(value in ".{0,200}", table in "[a-z_]{1,20}") {
            let ring = ring();
            let context = FieldContext { table: &table, column: "c", row: Uuid::now_v7() };
            let sealed = ring.seal(&context, value.as_bytes());
            let opened = ring.open_text(&context, &sealed).map(|t| t.to_string());
            prop_assert_eq!(opened, Ok(value));
        }
    }
}
