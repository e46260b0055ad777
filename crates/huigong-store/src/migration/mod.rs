//! The schema. Migrations describe tables with sea-query only and never import entities, so an
//! old migration keeps its meaning as entities evolve. Each runs in a transaction (also on SQLite).

use sea_orm_migration::prelude::*;

mod m20261126_000001_users;
mod m20261127_000002_people_audit;
mod m20261127_000003_orgs_accounts_members;
mod m20261127_000004_cards;
mod m20261128_000004_user_phones;
mod m20261128_000010_applications_outbox;
mod m20261128_000011_benefits;
mod m20261128_000012_roster_order;
mod m20261129_000020_merchants;
mod m20261129_000030_admin_totp;
mod m20261129_000040_membership_lifecycle;
mod m20261130_000050_verifications_ephemeral;
mod m20261201_000064_no_membership_oracle;
mod m20261201_000110_redemption_per_verification;
mod m20261201_000111_key_fingerprints;
mod m20261201_000112_audit_chain_key;
mod m20261206_000061_account_controls;
mod m20261207_000101_reports;
mod m20261207_000201_org_remark;
mod m20261207_000202_term_approval;
mod m20261207_000318_audit_sealer;
mod m20261208_000161_union_scenes;

pub use m20261127_000003_orgs_accounts_members::COUNTY_ORG_ID;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_users::Migration),
            Box::new(m20261127_000002_people_audit::Migration),
            Box::new(m20261127_000003_orgs_accounts_members::Migration),
            Box::new(m20261127_000004_cards::Migration),
            Box::new(m20261128_000004_user_phones::Migration),
            Box::new(m20261128_000010_applications_outbox::Migration),
            Box::new(m20261128_000011_benefits::Migration),
            Box::new(m20261128_000012_roster_order::Migration),
            Box::new(m20261129_000020_merchants::Migration),
            Box::new(m20261129_000030_admin_totp::Migration),
            Box::new(m20261129_000040_membership_lifecycle::Migration),
            Box::new(m20261130_000050_verifications_ephemeral::Migration),
            Box::new(m20261201_000064_no_membership_oracle::Migration),
            Box::new(m20261206_000061_account_controls::Migration),
            Box::new(m20261201_000110_redemption_per_verification::Migration),
            Box::new(m20261201_000111_key_fingerprints::Migration),
            Box::new(m20261201_000112_audit_chain_key::Migration),
            Box::new(m20261207_000101_reports::Migration),
            Box::new(m20261207_000201_org_remark::Migration),
            Box::new(m20261207_000202_term_approval::Migration),
            Box::new(m20261207_000318_audit_sealer::Migration),
            Box::new(m20261208_000161_union_scenes::Migration),
        ]
    }
}
