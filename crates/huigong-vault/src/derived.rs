//! Keys derived from the key ring, never stored: the audit chain's MAC keys and the keys'
//! fingerprints.
//!
//! * **Audit chain keys.** Each encryption key `N` of the ring gives an audit chain key, the
//!   HMAC-SHA256 of a fixed label under key `N` (domain separated: it is never used to
//!   encrypt). The chain key id is the encryption key id, so the audit chain rotates with the
//!   ring: new events are chained with the active key's chain key and record its id; older
//!   events still verify while their key is in the ring.
//! * **Fingerprints.** HMAC-SHA256 of another fixed label under each key: equal fingerprints
//!   mean equal keys, and a fingerprint tells nothing about its key. They are what the
//!   database's key table holds, so an instance can prove it holds the database's keys.

use crate::keys::{Key, KeyMaterial};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

const AUDIT_CHAIN_LABEL: &[u8] = b"huigong-audit-chain-key-v1";
const FINGERPRINT_LABEL: &[u8] = b"huigong-key-fingerprint-v1";

fn mac(key: &Key, label: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key.bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// The audit chain's MAC keys by key id, and the one new events are chained with. `Debug`
/// shows ids only.
#[derive(Clone)]
pub struct ChainKeys {
    keys: BTreeMap<u16, HmacSha256>,
    active: u16,
}

impl fmt::Debug for ChainKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKeys")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

impl ChainKeys {
    pub fn from_material(material: &KeyMaterial) -> Self {
        let keys = material
            .encryption
            .iter()
            .map(|(id, key)| {
                let derived = zeroize::Zeroizing::new(mac(key, AUDIT_CHAIN_LABEL));
                let state = <HmacSha256 as Mac>::new_from_slice(derived.as_slice())
                    .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
                (*id, state)
            })
            .collect();
        Self {
            keys,
            active: material.active,
        }
    }

    /// The id new events are chained with.
    pub fn active_key_id(&self) -> u16 {
        self.active
    }

    /// A MAC keyed with chain key `id`, ready for input; `None` when the ring lacks the key.
    pub fn hasher(&self, id: u16) -> Option<ChainHasher> {
        self.keys.get(&id).cloned().map(ChainHasher)
    }
}

/// HMAC-SHA256 under one audit chain key.
pub struct ChainHasher(HmacSha256);

impl ChainHasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finalize(self) -> [u8; 32] {
        self.0.finalize().into_bytes().into()
    }
}

/// Which key a fingerprint is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyName {
    /// Encryption key `id` (and with it audit chain key `id`).
    Encryption(u16),
    /// The blind-index key.
    BlindIndex,
}

impl KeyName {
    /// As stored: `encryption:3`, `blind_index`.
    pub fn as_stored(&self) -> String {
        match self {
            KeyName::Encryption(id) => format!("encryption:{id}"),
            KeyName::BlindIndex => "blind_index".to_owned(),
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        if stored == "blind_index" {
            return Some(KeyName::BlindIndex);
        }
        stored
            .strip_prefix("encryption:")?
            .parse()
            .ok()
            .map(KeyName::Encryption)
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyName::Encryption(id) => write!(f, "vault key id {id}"),
            KeyName::BlindIndex => f.write_str("the blind-index key"),
        }
    }
}

/// The fingerprint of every key of `material`: encryption keys by id, then the blind-index
/// key.
pub fn fingerprints(material: &KeyMaterial) -> Vec<(KeyName, [u8; 32])> {
    let mut out: Vec<_> = material
        .encryption
        .iter()
        .map(|(id, key)| (KeyName::Encryption(*id), mac(key, FINGERPRINT_LABEL)))
        .collect();
    out.push((
        KeyName::BlindIndex,
        mac(&material.blind_index, FINGERPRINT_LABEL),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_chain_keys_differ_per_key_and_from_the_key() {
        let a = KeyMaterial::generate();
        let b = KeyMaterial::generate();
        let (fa, fb) = (fingerprints(&a), fingerprints(&b));
        assert_eq!(fa.len(), 2);
        assert_eq!(fa, fingerprints(&a), "stable");
        assert_ne!(fa[0].1, fb[0].1);
        assert_ne!(fa[0].1, fa[1].1);
        let key = a.encryption.get(&1).map(|k| *k.bytes()).unwrap_or_default();
        assert_ne!(fa[0].1, key);
        let digest = |keys: &ChainKeys| {
            let mut h = keys.hasher(1).unwrap_or_else(|| panic!("key 1"));
            h.update(b"event");
            h.finalize()
        };
        let (ca, cb) = (ChainKeys::from_material(&a), ChainKeys::from_material(&b));
        assert_eq!(digest(&ca), digest(&ChainKeys::from_material(&a)));
        assert_ne!(digest(&ca), digest(&cb));
        assert!(ca.hasher(2).is_none());
        assert_eq!(KeyName::parse("encryption:7"), Some(KeyName::Encryption(7)));
        assert_eq!(
            KeyName::parse(&KeyName::BlindIndex.as_stored()),
            Some(KeyName::BlindIndex)
        );
    }
}
