//! Query-string parsing with field-level errors.

use crate::error::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

/// Parses an optional query value; a present but malformed value is a 400 naming `field`.
pub fn parse<T>(
    field: &'static str,
    value: Option<&str>,
    expected: &str,
    f: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => f(v)
            .map(Some)
            .ok_or_else(|| ApiError::invalid_field(field, format!("{field} 须为{expected}"))),
    }
}

/// The highest `page` accepted: far beyond any list here, and `(page - 1) * per_page` stays far
/// inside the `i64` that SQL's `OFFSET` takes.
pub const MAX_PAGE: u64 = 100_000;
/// The highest `per_page` accepted.
pub const MAX_PER_PAGE: u64 = 100;
const _: () = assert!(MAX_PAGE * MAX_PER_PAGE <= i64::MAX as u64);

/// `page` (1–[`MAX_PAGE`]) and `per_page` (1–[`MAX_PER_PAGE`], default 20); out of range is a
/// 400 naming the field, so the offset computed from them always fits SQL's `BIGINT`.
pub fn page(page: Option<&str>, per_page: Option<&str>) -> Result<(u64, u64), ApiError> {
    let page = parse("page", page, " 1 到 100000 之间的整数", |v| {
        v.parse::<u64>().ok().filter(|n| (1..=MAX_PAGE).contains(n))
    })?
    .unwrap_or(1);
    let per_page = parse("per_page", per_page, " 1 到 100 之间的整数", |v| {
        v.parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_PER_PAGE).contains(n))
    })?
    .unwrap_or(20);
    Ok((page, per_page))
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// A required text field: trimmed, non-empty, at most `max` characters.
pub fn required_text(field: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::invalid_field(field, format!("{field} 不能为空")));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} 不能超过 {max} 个字"),
        ));
    }
    Ok(v.to_owned())
}
