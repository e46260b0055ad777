//! The JSON body extractor: like `web::Json`, but every error names the field at fault (by its
//! path, such as `code` or `items[2].name`) without echoing the submitted value.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A JSON request body of type `T`.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || v.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Whether the JSON text holds the escape `\u0000` (a NUL character in a string): no text we
/// store may contain one (PostgreSQL refuses it in text columns), so it is refused up front.
fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// Decodes `bytes`, naming the offending field in the error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul_escape(bytes) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "文本中不能含有空字符（\\u0000）",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut api = crate::error::deserialize_error(&inner);
        if api.body.field.is_none()
            && path != "."
            && inner.classify() == serde_json::error::Category::Data
        {
            api.body.message = format!("字段 {path} 的类型或取值不正确").into();
            api.body.field = Some(path.into());
        }
        api
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "请求体须为 JSON（Content-Type: application/json）",
                ));
            }
            let bytes = bytes.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "请求体过大",
                    )
                } else {
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "请求体读取失败")
                }
            })?;
            decode(&bytes).map(Json)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        code: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        n: u32,
    }

    #[test]
    fn nul_characters_are_refused_but_an_escaped_backslash_is_not_one() {
        let e = decode::<Body>(br#"{"code": "a\u0000b", "items": []}"#).err();
        assert_eq!(e.map(|e| e.body.code), Some("invalid_field"));
        assert!(decode::<Body>(br#"{"code": "a\\u0000b", "items": []}"#).is_ok());
    }

    #[test]
    fn wrong_types_name_their_path_without_the_value() {
        let e = decode::<Body>(br#"{"code": 330522199001011234, "items": []}"#).err();
        let e = e.unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.body.field.as_deref(), Some("code"));
        assert!(!e.body.message.contains("330522199001011234"));
        let e = decode::<Body>(br#"{"code": "x", "items": [{"n": 1}, {"n": "two"}]}"#).err();
        assert_eq!(e.and_then(|e| e.body.field).as_deref(), Some("items[1].n"));
        let e = decode::<Body>(br#"{"items": []}"#).err();
        assert_eq!(e.and_then(|e| e.body.field).as_deref(), Some("code"));
    }
}
