//! An online application to join a grassroots union. The applicant's identity stays sealed in
//! this row; approval turns it into a person and a membership.

use crate::sealed::Sealed;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "applications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The WeChat user who applied.
    pub user_id: Uuid,
    /// The grassroots union applied to.
    pub org_id: Uuid,
    /// Blind index of the ID number (same domain as `people`).
    pub id_number_bidx: Vec<u8>,
    pub id_number_enc: Sealed,
    pub name_enc: Sealed,
    pub mobile_enc: Option<Sealed>,
    pub nationality: String,
    pub education: String,
    pub household_type: String,
    pub unit_name: String,
    pub employment_status: String,
    pub union_post: String,
    /// The version of the declaration the applicant agreed to.
    pub declaration_version: String,
    /// Separate consent to processing the ID number (PIPL art. 29).
    pub consent_sensitive: bool,
    pub signature_name_enc: Sealed,
    pub signature_png_enc: Option<Sealed>,
    pub idempotency_key: Option<String>,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub reason: Option<String>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub membership_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
