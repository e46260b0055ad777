//! Tokens and sessions: logout, tampering, expiry, several instances.

use crate::helpers::TestApp;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

#[tokio::test]
async fn logout_then_me_is_401() {
    let app = TestApp::spawn().await;
    let token = app.login("o_logout_worker").await;
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.0, 200);
    let (status, _) = app
        .post_json("/api/v1/auth/logout", &json!({}), Some(&token))
        .await;
    assert_eq!(status, 204);
    let (status, body) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "unauthorized");
    // Logging out twice with the same token is also refused.
    assert_eq!(
        app.post_json("/api/v1/auth/logout", &json!({}), Some(&token))
            .await
            .0,
        401
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_ends_only_that_session() {
    let app = TestApp::spawn().await;
    let phone = app.login("o_two_devices").await;
    let tablet = app.login("o_two_devices").await;
    app.post_json("/api/v1/auth/logout", &json!({}), Some(&phone))
        .await;
    assert_eq!(app.get("/api/v1/me", Some(&phone)).await.0, 401);
    assert_eq!(app.get("/api/v1/me", Some(&tablet)).await.0, 200);
    app.stop().await;
}

fn flip_char(s: &str, index: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn tampered_token_is_401() {
    let app = TestApp::spawn().await;
    let token = app.login("o_tamper_worker").await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);

    let bad_signature = format!("{}.{}.{}", parts[0], parts[1], flip_char(parts[2], 5));
    let bad_payload = format!("{}.{}.{}", parts[0], flip_char(parts[1], 10), parts[2]);
    let none_alg = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    for bad in [bad_signature, bad_payload, none_alg, "not-a-jwt".to_owned()] {
        let (status, body) = app.get("/api/v1/me", Some(&bad)).await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(body["code"], "unauthorized");
    }
    // No header, or another scheme.
    assert_eq!(app.get("/api/v1/me", None).await.0, 401);
    let (status, _) = crate::helpers::send(
        app.http
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("Basic {token}")),
    )
    .await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[derive(serde::Serialize)]
struct Claims {
    iss: &'static str,
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
}

fn decode_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

#[tokio::test]
async fn expired_token_is_401_even_with_a_live_session() {
    let app = TestApp::spawn().await;
    let token = app.login("o_expired_token").await;
    let claims = decode_claims(&token);
    let sign = |exp: i64, secret: &str| {
        let c = Claims {
            iss: "huigong",
            sub: claims["sub"].as_str().unwrap_or_default().to_owned(),
            sid: claims["sid"].as_str().unwrap_or_default().to_owned(),
            iat: Utc::now().timestamp() - 100,
            exp,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &c,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap_or_default()
    };
    let secret = app.settings.auth.jwt_secret.expose().to_owned();
    // Same session, validly signed, but expired: refused.
    let expired = sign(Utc::now().timestamp() - 5, &secret);
    assert_eq!(app.get("/api/v1/me", Some(&expired)).await.0, 401);
    // Same session and expiry as the real token, signed with the right key: accepted, which
    // shows the 401 above is the expiry and nothing else.
    let resigned = sign(claims["exp"].as_i64().unwrap_or_default(), &secret);
    assert_eq!(app.get("/api/v1/me", Some(&resigned)).await.0, 200);
    // Signed with another key: refused.
    let foreign = sign(
        claims["exp"].as_i64().unwrap_or_default(),
        "another-key-another-key-another-key",
    );
    assert_eq!(app.get("/api/v1/me", Some(&foreign)).await.0, 401);
    app.stop().await;
}

#[tokio::test]
async fn session_expires_server_side_with_its_ttl() {
    let app = TestApp::spawn_with(|s| s.auth.session_ttl_secs = 2).await;
    let token = app.login("o_short_session").await;
    // A token for the same session that itself expires much later: only the server-side
    // session's TTL can end it.
    let claims = decode_claims(&token);
    let long_lived = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &Claims {
            iss: "huigong",
            sub: claims["sub"].as_str().unwrap_or_default().to_owned(),
            sid: claims["sid"].as_str().unwrap_or_default().to_owned(),
            iat: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 3600,
        },
        &EncodingKey::from_secret(app.settings.auth.jwt_secret.expose().as_bytes()),
    )
    .unwrap_or_default();
    assert_eq!(app.get("/api/v1/me", Some(&long_lived)).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(app.get("/api/v1/me", Some(&long_lived)).await.0, 401);
    app.stop().await;
}

/// Two instances with the same configuration (PostgreSQL + Redis) accept each other's tokens,
/// and a logout on one is seen by the other at once.
#[tokio::test]
async fn instances_share_tokens_and_logouts() {
    let (a, b) = TestApp::two_sharing_services().await;

    let token = a.login("o_two_instances").await;
    let (status, me) = b.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        b.post_json("/api/v1/auth/logout", &json!({}), Some(&token))
            .await
            .0,
        204
    );
    assert_eq!(a.get("/api/v1/me", Some(&token)).await.0, 401);
    a.stop().await;
    b.stop().await;
}
