//! Key material: 256-bit keys, their text form in configuration, and generation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use std::collections::BTreeMap;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A 256-bit secret key. Zeroized on drop; `Debug` never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; 32]);

impl Key {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        // ThreadRng: ChaCha12 seeded (and periodically reseeded) from the operating system.
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads a key from standard base64 (44 characters).
    pub fn from_base64(text: &str) -> Result<Self, KeyMaterialError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyMaterialError::NotBase64)?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyMaterialError::WrongLength(decoded.len()))?;
        Ok(Self(bytes))
    }

    /// The key as standard base64, for `huigong keys generate` and the development key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Key material could not be read. Messages never contain key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMaterialError {
    #[error("a key is not valid base64")]
    NotBase64,
    #[error("a key decodes to {0} bytes; 32 are required")]
    WrongLength(usize),
    #[error("vault.keys entries must look like ID:BASE64 with a numeric id from 1 to 65535")]
    BadEntry,
    #[error("key id {0} appears twice in vault.keys")]
    DuplicateId(u16),
    #[error("vault.keys is empty")]
    NoKeys,
    #[error("vault.active_key_id {0} is not among vault.keys")]
    UnknownActiveKey(u16),
    #[error("vault.blind_index_key is missing")]
    NoBlindIndexKey,
    #[error("vault.blind_index_key equals an encryption key; they must differ")]
    BlindKeyReused,
}

/// Every key the vault needs: encryption keys by id, which one seals new values, and the
/// blind-index key.
#[derive(Clone)]
pub struct KeyMaterial {
    pub encryption: BTreeMap<u16, Key>,
    pub active: u16,
    pub blind_index: Key,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("key_ids", &self.encryption.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .field("blind_index", &"[redacted]")
            .finish()
    }
}

impl KeyMaterial {
    /// A fresh set: one encryption key with id 1, active, and a blind-index key.
    pub fn generate() -> Self {
        Self {
            encryption: BTreeMap::from([(1, Key::generate())]),
            active: 1,
            blind_index: Key::generate(),
        }
    }

    /// Reads configuration text: `keys` is `ID:BASE64[,ID:BASE64…]`; `active` 0 means the
    /// highest id; `blind_index` is BASE64.
    pub fn parse(keys: &str, active: u16, blind_index: &str) -> Result<Self, KeyMaterialError> {
        let mut encryption = BTreeMap::new();
        for entry in keys.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, key) = entry.split_once(':').ok_or(KeyMaterialError::BadEntry)?;
            let id: u16 = id.trim().parse().map_err(|_| KeyMaterialError::BadEntry)?;
            if id == 0 {
                return Err(KeyMaterialError::BadEntry);
            }
            if encryption.insert(id, Key::from_base64(key)?).is_some() {
                return Err(KeyMaterialError::DuplicateId(id));
            }
        }
        let highest = *encryption
            .keys()
            .next_back()
            .ok_or(KeyMaterialError::NoKeys)?;
        let active = if active == 0 { highest } else { active };
        if !encryption.contains_key(&active) {
            return Err(KeyMaterialError::UnknownActiveKey(active));
        }
        if blind_index.trim().is_empty() {
            return Err(KeyMaterialError::NoBlindIndexKey);
        }
        let blind_index = Key::from_base64(blind_index)?;
        if encryption
            .values()
            .any(|k| k.bytes() == blind_index.bytes())
        {
            return Err(KeyMaterialError::BlindKeyReused);
        }
        Ok(Self {
            encryption,
            active,
            blind_index,
        })
    }

    /// Adds a fresh key with the next id and makes it active; returns its id.
    pub fn add_new_active_key(&mut self) -> u16 {
        let id = self
            .encryption
            .keys()
            .next_back()
            .map_or(1, |highest| highest.saturating_add(1));
        self.encryption.insert(id, Key::generate());
        self.active = id;
        id
    }

    /// The `vault.keys` text for this material.
    pub fn keys_text(&self) -> Zeroizing<String> {
        let parts: Vec<Zeroizing<String>> = self
            .encryption
            .iter()
            .map(|(id, key)| Zeroizing::new(format!("{id}:{}", key.to_base64().as_str())))
            .collect();
        Zeroizing::new(
            parts
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_text_round_trips() {
        let mut material = KeyMaterial::generate();
        let second = material.add_new_active_key();
        assert_eq!(second, 2);
        let text = material.keys_text();
        let blind = material.blind_index.to_base64();
        let parsed = KeyMaterial::parse(&text, 0, &blind).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.active, 2);
        assert_eq!(parsed.encryption.len(), 2);
        assert_eq!(
            parsed.encryption[&1].bytes(),
            material.encryption[&1].bytes()
        );
        let pinned = KeyMaterial::parse(&text, 1, &blind).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pinned.active, 1);
    }

    #[test]
    fn bad_material_is_refused_without_echoing_it() {
        let good = Key::generate().to_base64();
        let blind = Key::generate().to_base64();
        let cases = [
            (String::new(), KeyMaterialError::NoKeys),
            (format!("x:{}", good.as_str()), KeyMaterialError::BadEntry),
            (format!("0:{}", good.as_str()), KeyMaterialError::BadEntry),
            ("1:c2hvcnQ=".to_owned(), KeyMaterialError::WrongLength(5)),
            ("1:***".to_owned(), KeyMaterialError::NotBase64),
            (
                format!("1:{0},1:{0}", good.as_str()),
                KeyMaterialError::DuplicateId(1),
            ),
        ];
        for (keys, expected) in cases {
            let err = KeyMaterial::parse(&keys, 0, &blind).err();
            assert_eq!(err, Some(expected.clone()), "{keys}");
            assert!(!expected.to_string().contains(good.as_str()));
        }
        let keys = format!("1:{}", good.as_str());
        assert_eq!(
            KeyMaterial::parse(&keys, 3, &blind).err(),
            Some(KeyMaterialError::UnknownActiveKey(3))
        );
        assert_eq!(
            KeyMaterial::parse(&keys, 0, "").err(),
            Some(KeyMaterialError::NoBlindIndexKey)
        );
        assert_eq!(
            KeyMaterial::parse(&keys, 0, &good).err(),
            Some(KeyMaterialError::BlindKeyReused)
        );
    }

    #[test]
    fn debug_output_shows_no_key_bytes() {
        let material = KeyMaterial::generate();
        let shown = format!("{material:?} {:?}", material.blind_index);
        assert!(!shown.contains(material.blind_index.to_base64().as_str()));
        assert!(!shown.contains(material.encryption[&1].to_base64().as_str()));
        assert!(shown.contains("[redacted]"));
    }
}
