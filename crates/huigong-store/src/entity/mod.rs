//! sea-orm entities.

pub mod admin_totp;
pub mod admin_totp_recovery_code;
pub mod application;
pub mod audit_event;
pub mod audit_head;
pub mod benefit;
pub mod card;
pub mod membership;
pub mod org;
pub mod outbox;
pub mod person;
pub mod unit;
pub mod user;
pub mod user_phone;
