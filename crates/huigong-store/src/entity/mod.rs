//! sea-orm entities.

pub mod audit_event;
pub mod audit_head;
pub mod person;
pub mod user;
