//! sea-orm entities.

pub mod user;
