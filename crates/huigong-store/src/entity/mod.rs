//! sea-orm entities.

pub mod application;
pub mod audit_event;
pub mod audit_head;
pub mod card;
pub mod discount;
pub mod membership;
pub mod merchant;
pub mod merchant_staff;
pub mod org;
pub mod outbox;
pub mod person;
pub mod redemption;
pub mod unit;
pub mod user;
pub mod user_phone;
pub mod verification;
