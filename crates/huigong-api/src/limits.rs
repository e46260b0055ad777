//! Request limits shared by every route: the client's address, fixed counting windows, and the
//! 429 answer. Counters live in the shared ephemeral store, so every instance counts the same
//! attempts.

use crate::error::ApiError;
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};

pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
/// Days are counted in Beijing time (UTC+8), as the workers live them.
pub const BEIJING_OFFSET: i64 = 8 * HOUR;

/// The window `now` falls in, for windows of `len` seconds shifted by `offset`: its index and
/// the seconds left in it (at least 1).
pub fn window(now: DateTime<Utc>, len: i64, offset: i64) -> (i64, u64) {
    let t = now.timestamp() + offset;
    let index = t.div_euclid(len);
    let left = len - t.rem_euclid(len);
    (index, u64::try_from(left).unwrap_or(1).max(1))
}

/// 429 `too_many_attempts` with `Retry-After`.
pub fn too_many(message: &'static str, retry_after: u64) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
        .with_retry_after(retry_after)
}

/// The client's address as the TCP connection shows it. No proxy header is trusted: the
/// service has no trusted-proxy setting, and a forged `X-Forwarded-For` must not dodge a limit.
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}
