//! Huigong's HTTP API.
//!
//! Handlers are thin: they parse, authorise (through the [`auth::Caller`] extractor), call the
//! store or a client, and map the result. Every error leaves as `{"code", "message"}` through
//! [`error::ApiError`].

pub mod accounts;
pub mod app;
pub mod auth;
pub mod error;
pub mod guesses;
pub mod imports;
pub mod json;
pub mod limits;
pub mod membership_checks;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod password;
pub mod posters;
pub mod query;
pub mod reports;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod wechat_tokens;

pub use app::build_app;
pub use auth::{AdminCaller, Caller, JwtKeys};
pub use error::ApiError;
pub use state::{AppState, AuthSettings, CardSettings};
