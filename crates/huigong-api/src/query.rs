//! The query-string extractor: like `web::Query`, but a bad parameter answers the JSON error
//! every body error answers, `{"code": "invalid_field", "message", "field"}`, naming the
//! parameter without echoing its value.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{Ready, ready};
use serde::de::DeserializeOwned;

/// The query string of a request, decoded as `T`.
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Decodes a query string, naming the offending parameter in the error.
pub fn decode<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // No text we store may hold a NUL character (PostgreSQL refuses it in text columns).
    if let Some((name, _)) =
        form_urlencoded::parse(query.as_bytes()).find(|(_, v)| v.contains('\0'))
    {
        let name = name.into_owned();
        return Err(ApiError::invalid_field(
            name.clone(),
            format!("查询参数 {name} 不能含有空字符"),
        ));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let text = e.into_inner().to_string();
        let named = |marker: &str| crate::error::backticked_after(&text, marker);
        if let Some(field) = named("missing field `") {
            ApiError::invalid_field(field.clone(), format!("缺少查询参数 {field}"))
        } else if let Some(field) = named("unknown field `") {
            ApiError::invalid_field(field.clone(), format!("不认识的查询参数 {field}"))
        } else if path != "." {
            ApiError::invalid_field(path.clone(), format!("查询参数 {path} 的类型或取值不正确"))
        } else {
            ApiError::invalid_field("query", "查询参数的类型或取值不正确")
        }
    })
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(decode(req.query_string()).map(Query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        commit: Option<bool>,
        page: Option<u32>,
        kind: String,
    }

    fn err(q: &str) -> ApiError {
        match decode::<Q>(q) {
            Err(e) => e,
            Ok(v) => panic!("accepted {q}: {v:?}"),
        }
    }

    #[test]
    fn item18_bad_query_values_name_the_parameter_without_echoing_it() {
        let e = err("kind=a&commit=maybe");
        assert_eq!(e.body.code, "invalid_field");
        assert_eq!(e.body.field.as_deref(), Some("commit"));
        assert!(!e.body.message.contains("maybe"), "{}", e.body.message);
        let e = err("kind=a&page=330522199001011234");
        assert_eq!(e.body.field.as_deref(), Some("page"));
        assert!(!e.body.message.contains("3305221990"), "{}", e.body.message);
        assert_eq!(err("page=1").body.field.as_deref(), Some("kind"));
        assert_eq!(err("kind=a&what=1").body.field.as_deref(), Some("what"));
        assert!(decode::<Q>("kind=a&commit=true&page=2").is_ok());
        assert_eq!(err("kind=a%00b").body.field.as_deref(), Some("kind"));
    }
}
