//! Storage for Huigong.
//!
//! * [`db`]: connecting to SQLite or PostgreSQL with the same schema and behaviour; write
//!   transactions ([`WriteTxn`]), queued in process on SQLite.
//! * [`migration`]: the schema, as sea-orm-migration migrations that never import entities.
//! * [`entity`] and the repositories ([`users`], [`people`]).
//! * [`sealed`]: encrypted columns; [`rotation`]: re-encryption under a new key.
//! * [`audit`]: the append-only, hash-chained audit log.
//! * [`ephemeral`]: short-lived shared state (sessions now; rate limits and one-time tokens later)
//!   behind one trait, in process or in Redis.
//! * [`sessions`]: login sessions on top of the ephemeral store.
//! * [`card_views`]: the holder's card view cached in the ephemeral store, invalidated by
//!   generation after every write that changes it.

pub mod applications;
pub mod audit;
pub mod audit_sealer;
pub mod backup;
pub mod benefits;
pub mod card_views;
pub mod cards;
pub mod cycle;
pub mod dashboard;
pub mod db;
pub mod entity;
pub mod ephemeral;
pub mod key_fingerprints;
mod like;
pub mod member_cards;
pub mod members;
pub mod membership_changes;
pub mod merchant_views;
pub mod merchants;
pub mod migration;
pub mod orgs;
pub mod outbox;
pub mod people;
pub mod quality;
pub mod reports;
pub mod rotation;
pub mod sealed;
pub mod sessions;
pub mod subsidies;
pub mod totp;
pub mod union_lifecycle;
pub mod union_scenes;
pub mod user_phones;
pub mod users;

pub use db::{Backend, Database, StoreError, WriteTurn, WriteTxn};
pub use ephemeral::{Ephemeral, EphemeralError, MemoryStore, RedisStore, RedisTarget};
/// What a [`WriteTxn`] dereferences to, for callers that do not use sea-orm themselves.
pub use sea_orm::DatabaseTransaction;
pub use sessions::{SessionRecord, Sessions};
