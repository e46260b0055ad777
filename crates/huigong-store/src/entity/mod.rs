//! sea-orm entities.

pub mod application;
pub mod audit_event;
pub mod audit_head;
pub mod card;
pub mod membership;
pub mod membership_event;
pub mod org;
pub mod org_term;
pub mod outbox;
pub mod person;
pub mod transfer;
pub mod unit;
pub mod user;
pub mod user_phone;
