//! The console's static files, embedded in the binary and served under a path that names
//! their content hash (`/console/assets/<hash>/<name>`), so they can be cached for a year.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// htmx 2.0.11 from its npm package (`npm pack htmx.org@2.0.11`), licence in `htmx.LICENSE`.
const HTMX: &[u8] = include_bytes!("../assets/htmx.min.js");
const HTMX_LICENSE: &[u8] = include_bytes!("../assets/htmx.LICENSE");
const CONSOLE_JS: &[u8] = include_bytes!("../assets/console.js");
const CONSOLE_CSS: &[u8] = include_bytes!("../assets/console.css");

/// The embedded files: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("htmx.min.js", "text/javascript; charset=utf-8", HTMX),
    ("htmx.LICENSE", "text/plain; charset=utf-8", HTMX_LICENSE),
    ("console.js", "text/javascript; charset=utf-8", CONSOLE_JS),
    ("console.css", "text/css; charset=utf-8", CONSOLE_CSS),
];

/// The first 12 hex digits of the SHA-256 of every embedded file: changes with any of them.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for (name, _, bytes) in FILES {
        hash.update(name.as_bytes());
        hash.update(bytes);
    }
    hash.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// The path prefix of the assets, e.g. `/console/assets/0a1b2c3d4e5f`.
pub fn base() -> String {
    format!("{}/assets/{}", crate::PREFIX, VERSION.as_str())
}

/// `GET /console/assets/{version}/{name}`: 404 for another version or name.
pub async fn serve(path: web::Path<(String, String)>) -> HttpResponse {
    let (version, name) = path.into_inner();
    let file = FILES.iter().find(|(n, _, _)| *n == name);
    match file {
        Some((_, content_type, bytes)) if version == *VERSION => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, *content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(*bytes),
        _ => crate::error::PageError::not_found().page(),
    }
}
