//! Encrypted columns.
//!
//! An entity declares an encrypted column with the type [`Sealed`] (or `Option<Sealed>`), named
//! `*_enc`. A `Sealed` can only be made by sealing a value with the key ring for its table,
//! column and row, so plaintext cannot reach such a column by mistake. Every encrypted column is
//! also listed in [`SEALED_COLUMNS`], which key rotation walks; a test checks that the live schema
//! has no `*_enc` column missing from it.

use huigong_vault::{Ciphertext, FieldContext, KeyRing, VaultError};
use sea_orm::DeriveValueType;
use uuid::Uuid;
use zeroize::Zeroizing;

/// A vault ciphertext as stored in a `BLOB`/`bytea` column.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct Sealed(Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// An encrypted column: where its values live and how rows are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
}

impl SealedColumn {
    pub const fn new(table: &'static str, column: &'static str) -> Self {
        Self { table, column }
    }

    /// The vault context of this column in `row`.
    pub fn at(&self, row: Uuid) -> FieldContext<'static> {
        FieldContext {
            table: self.table,
            column: self.column,
            row,
        }
    }

    /// Encrypts `plaintext` for this column of `row`.
    pub fn seal(&self, vault: &KeyRing, row: Uuid, plaintext: &str) -> Sealed {
        Sealed(vault.seal(&self.at(row), plaintext.as_bytes()).into_bytes())
    }

    /// Decrypts this column's value of `row`.
    pub fn open(
        &self,
        vault: &KeyRing,
        row: Uuid,
        sealed: &Sealed,
    ) -> Result<Zeroizing<String>, VaultError> {
        let ciphertext = Ciphertext::from_bytes(sealed.0.clone())?;
        vault.open_text(&self.at(row), &ciphertext)
    }
}

impl Sealed {
    pub(crate) fn from_stored(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

pub const PEOPLE_ID_NUMBER: SealedColumn = SealedColumn::new("people", "id_number_enc");
pub const PEOPLE_NAME: SealedColumn = SealedColumn::new("people", "name_enc");
pub const PEOPLE_MOBILE: SealedColumn = SealedColumn::new("people", "mobile_enc");

pub const ORGS_LEADER_NAME: SealedColumn = SealedColumn::new("orgs", "leader_name_enc");
pub const ORGS_PHONE: SealedColumn = SealedColumn::new("orgs", "phone_enc");

pub const ORG_TERMS_LEADER_NAME: SealedColumn = SealedColumn::new("org_terms", "leader_name_enc");
/// The contact phone a term (换届) brings.
pub const ORG_TERMS_PHONE: SealedColumn = SealedColumn::new("org_terms", "phone_enc");

pub const USER_PHONES_MOBILE: SealedColumn = SealedColumn::new("user_phones", "mobile_enc");
pub const APPLICATIONS_ID_NUMBER: SealedColumn = SealedColumn::new("applications", "id_number_enc");
pub const APPLICATIONS_NAME: SealedColumn = SealedColumn::new("applications", "name_enc");
pub const APPLICATIONS_MOBILE: SealedColumn = SealedColumn::new("applications", "mobile_enc");
pub const APPLICATIONS_SIGNATURE_NAME: SealedColumn =
    SealedColumn::new("applications", "signature_name_enc");
/// A drawn signature: the PNG, base64-encoded, then sealed.
pub const APPLICATIONS_SIGNATURE_PNG: SealedColumn =
    SealedColumn::new("applications", "signature_png_enc");
/// An administrator's confirmed TOTP secret (base32) and one waiting for confirmation.
pub const ADMIN_TOTP_SECRET: SealedColumn = SealedColumn::new("admin_totp", "secret_enc");
pub const ADMIN_TOTP_PENDING_SECRET: SealedColumn =
    SealedColumn::new("admin_totp", "pending_secret_enc");

/// A member archived with a half-year confirmation (入库归档).
pub const ROSTER_ARCHIVES_ID_NUMBER: SealedColumn =
    SealedColumn::new("roster_archives", "id_number_enc");
pub const ROSTER_ARCHIVES_NAME: SealedColumn = SealedColumn::new("roster_archives", "name_enc");
pub const ROSTER_ARCHIVES_MOBILE: SealedColumn = SealedColumn::new("roster_archives", "mobile_enc");

/// Every encrypted column of the schema. Each table named here has a UUID primary key `id`.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    PEOPLE_ID_NUMBER,
    PEOPLE_NAME,
    PEOPLE_MOBILE,
    ORGS_LEADER_NAME,
    ORGS_PHONE,
    USER_PHONES_MOBILE,
    APPLICATIONS_ID_NUMBER,
    APPLICATIONS_NAME,
    APPLICATIONS_MOBILE,
    APPLICATIONS_SIGNATURE_NAME,
    APPLICATIONS_SIGNATURE_PNG,
    ADMIN_TOTP_SECRET,
    ADMIN_TOTP_PENDING_SECRET,
    ORG_TERMS_LEADER_NAME,
    ROSTER_ARCHIVES_ID_NUMBER,
    ROSTER_ARCHIVES_NAME,
    ROSTER_ARCHIVES_MOBILE,
    ORG_TERMS_PHONE,
];
