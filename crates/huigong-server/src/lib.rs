//! Wiring of the `huigong` service: configuration, start-up, telemetry.

pub mod backup;
pub mod demo;
pub mod keys;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use settings::{Profile, Settings};
pub use startup::Application;
