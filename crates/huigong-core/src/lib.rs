//! Pure domain of Huigong: the vocabulary every other crate shares.
//!
//! Nothing here performs I/O or depends on a web or database framework.

pub mod clock;
pub mod role;
pub mod secret;

pub use clock::{Clock, FixedClock, SystemClock};
pub use role::Role;
pub use secret::Secret;
