//! Two-factor login of administrators (TOTP, RFC 6238) with a fixed clock: enrolment and
//! confirmation, valid / stale / replayed codes, recovery codes, the mandatory setting, audit
//! events and the lockout.

use crate::helpers::{TestApp, county_org};
use chrono::{DateTime, Duration, Utc};
use huigong_core::{FixedClock, Role, totp};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

const PASSWORD: &str = "Totp-Admin-2026";

struct Fixture {
    app: TestApp,
    clock: Arc<FixedClock>,
}

impl Fixture {
    /// The service with a fixed clock 5 s into a time step near the real time (tokens expire by
    /// the real time).
    async fn spawn(require_totp_for: Vec<Role>) -> Self {
        let now = Utc::now().timestamp();
        let start = DateTime::<Utc>::from_timestamp(now - now.rem_euclid(30) + 5, 0)
            .unwrap_or_else(|| panic!("timestamp"));
        let clock = Arc::new(FixedClock::new(start));
        let app = TestApp::spawn_with_clock(
            |s| s.auth.require_totp_for = require_totp_for,
            clock.clone(),
        )
        .await;
        Self { app, clock }
    }

    fn now(&self) -> DateTime<Utc> {
        use huigong_core::Clock;
        self.clock.now()
    }

    fn advance(&self, secs: i64) {
        self.clock.advance(Duration::seconds(secs));
    }

    /// An administrator account with a password.
    async fn admin(&self, username: &str, role: Role) -> Uuid {
        let hash =
            huigong_api::password::hash_blocking(PASSWORD).unwrap_or_else(|e| panic!("hash: {e}"));
        let account = huigong_store::users::NewAccount {
            role,
            username: Some(username),
            password_hash: Some(hash),
            org_id: Some(county_org()),
        };
        huigong_store::users::create_account(&self.app.state.db.conn, account, self.now())
            .await
            .unwrap_or_else(|e| panic!("create account: {e}"))
            .id
    }

    async fn login(&self, body: Value) -> (u16, Value) {
        self.app
            .post_json("/api/v1/auth/password/login", &body, None)
            .await
    }

    async fn login_with(&self, username: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({"username": username, "password": PASSWORD});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.login(body).await
    }

    /// The code of `secret` at the clock's time shifted by `offset_secs`.
    fn code(&self, secret: &str, offset_secs: i64) -> String {
        let key = totp::base32_decode(secret).unwrap_or_else(|| panic!("secret not base32"));
        totp::code_at(&key, self.now() + Duration::seconds(offset_secs))
    }

    /// Logs in (password only), enrols and confirms: returns the secret and recovery codes.
    /// The current time step is spent by the confirmation.
    async fn enrolled(&self, username: &str) -> (String, Vec<String>) {
        let (status, out) = self.login_with(username, json!({})).await;
        assert_eq!(status, 200, "{out}");
        let token = out["token"].as_str().unwrap_or_default().to_owned();
        let (status, enrol) = self
            .app
            .post_json("/api/v1/auth/totp/enrol", &json!({}), Some(&token))
            .await;
        assert_eq!(status, 200, "{enrol}");
        let secret = enrol["secret"].as_str().unwrap_or_default().to_owned();
        let (status, confirmed) = self
            .app
            .post_json(
                "/api/v1/auth/totp/confirm",
                &json!({"totp": self.code(&secret, 0)}),
                Some(&token),
            )
            .await;
        assert_eq!(status, 200, "{confirmed}");
        let codes = enrol["recovery_codes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        (secret, codes)
    }

    /// (action, outcome) of every audit event about `user`, oldest first, and the raw page.
    async fn audit_of(&self, user: Uuid) -> (Vec<(String, String)>, String) {
        let (_, county) = self.app.token_for(Role::CountyAdmin).await;
        let (status, page) = self
            .app
            .get(
                &format!("/api/v1/admin/audit?target_type=user&target_id={user}&limit=100"),
                Some(&county),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let mut events: Vec<(String, String)> = page["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap_or_default().to_owned(),
                    e["outcome"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        events.reverse();
        (events, page.to_string())
    }
}

fn code_of(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn enrolled_admin_needs_a_current_code_and_stale_or_replayed_codes_are_refused() {
    let f = Fixture::spawn(vec![]).await;
    let user = f.admin("county_totp", Role::CountyAdmin).await;

    // Not enrolled: the password alone logs in.
    let (status, out) = f.login_with("county_totp", json!({})).await;
    assert_eq!(status, 200, "{out}");
    let token = out["token"].as_str().unwrap_or_default().to_owned();

    let (status, enrol) = f
        .app
        .post_json("/api/v1/auth/totp/enrol", &json!({}), Some(&token))
        .await;
    assert_eq!(status, 200, "{enrol}");
    assert_eq!(enrol["status"], "pending");
    let secret = enrol["secret"].as_str().unwrap_or_default().to_owned();
    assert_eq!(totp::base32_decode(&secret).map(|k| k.len()), Some(20));
    let url = enrol["otpauth_url"].as_str().unwrap_or_default();
    assert!(
        url.starts_with("otpauth://totp/Huigong:county_totp?secret=") && url.contains(&secret),
        "{url}"
    );
    assert_eq!(enrol["recovery_codes"].as_array().map(Vec::len), Some(10));

    // Pending changes nothing for login.
    assert_eq!(f.login_with("county_totp", json!({})).await.0, 200);

    // A wrong first code does not confirm; the right one does.
    let wrong = format!(
        "{:06}",
        (f.code(&secret, 0).parse::<u32>().unwrap_or(0) + 1) % 1_000_000
    );
    let (status, out) = f
        .app
        .post_json(
            "/api/v1/auth/totp/confirm",
            &json!({"totp": wrong}),
            Some(&token),
        )
        .await;
    assert_eq!((status, code_of(&out)), (401, "totp_invalid"), "{out}");
    let confirm_code = f.code(&secret, 0);
    let (status, out) = f
        .app
        .post_json(
            "/api/v1/auth/totp/confirm",
            &json!({"totp": confirm_code}),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "active");
    assert_eq!(out["recovery_codes_left"], 10);
    assert!(
        out.get("login").is_none(),
        "a session confirms without a new login"
    );
    let (status, out) = f
        .app
        .post_json(
            "/api/v1/auth/totp/confirm",
            &json!({"totp": confirm_code}),
            Some(&token),
        )
        .await;
    assert_eq!((status, code_of(&out)), (409, "totp_not_pending"), "{out}");

    // Now the password alone is not enough, but says so only when it was right.
    let (status, out) = f.login_with("county_totp", json!({})).await;
    assert_eq!((status, code_of(&out)), (401, "totp_required"), "{out}");
    let (_, unknown) = f
        .login(json!({"username": "nobody", "password": "Wrong-Password-1", "totp": "123456"}))
        .await;
    let (status, wrong_password) = f
        .login(json!({"username": "county_totp", "password": "Wrong-Password-1", "totp": f.code(&secret, 0)}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(code_of(&wrong_password), "invalid_credentials");
    assert_eq!(unknown, wrong_password, "no username oracle");

    // The code used to confirm is spent: the same step is refused.
    let (status, out) = f
        .login_with("county_totp", json!({"totp": confirm_code}))
        .await;
    assert_eq!(
        (status, code_of(&out)),
        (401, "totp_invalid"),
        "replayed: {out}"
    );

    // Next step: the current code logs in, once.
    f.advance(30);
    let current = f.code(&secret, 0);
    let (status, out) = f.login_with("county_totp", json!({"totp": current})).await;
    assert_eq!(status, 200, "{out}");
    let token = out["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(f.app.get("/api/v1/me", Some(&token)).await.0, 200);
    let (status, out) = f.login_with("county_totp", json!({"totp": current})).await;
    assert_eq!(
        (status, code_of(&out)),
        (401, "totp_invalid"),
        "replayed: {out}"
    );
    // An earlier step than the last accepted one is refused too, though within the window.
    let (status, _) = f
        .login_with("county_totp", json!({"totp": f.code(&secret, -30)}))
        .await;
    assert_eq!(status, 401);

    // One step of drift either way is accepted: the phone's clock runs 30 s ahead.
    f.advance(30);
    let (status, out) = f
        .login_with("county_totp", json!({"totp": f.code(&secret, 30)}))
        .await;
    assert_eq!(status, 200, "drift: {out}");

    // Stale: two steps old (or two ahead) is outside the window.
    f.advance(300);
    for offset in [-60, 60] {
        let (status, out) = f
            .login_with("county_totp", json!({"totp": f.code(&secret, offset)}))
            .await;
        assert_eq!(
            (status, code_of(&out)),
            (401, "totp_invalid"),
            "offset {offset}: {out}"
        );
    }
    let (status, out) = f
        .login_with("county_totp", json!({"totp": f.code(&secret, 0)}))
        .await;
    assert_eq!(status, 200, "{out}");

    // Every enrolment, confirmation, success and failure is audited, never with the code.
    let (events, raw) = f.audit_of(user).await;
    let count = |action: &str, outcome: &str| {
        events
            .iter()
            .filter(|(a, o)| a == action && o == outcome)
            .count()
    };
    assert_eq!(count("auth.totp_enrol", "success"), 1, "{events:?}");
    assert_eq!(count("auth.totp_confirm", "failure"), 1, "{events:?}");
    assert_eq!(count("auth.totp_confirm", "success"), 1, "{events:?}");
    assert_eq!(count("auth.totp_login", "success"), 3, "{events:?}");
    assert_eq!(count("auth.totp_login", "failure"), 5, "{events:?}");
    assert!(!raw.contains(&secret), "secret in the audit log");
    assert!(!raw.contains(&current), "code in the audit log");
    f.app.stop().await;
}

#[tokio::test]
async fn recovery_codes_work_once_each() {
    let f = Fixture::spawn(vec![]).await;
    let user = f.admin("district_rc", Role::DistrictAdmin).await;
    let (_, codes) = f.enrolled("district_rc").await;
    assert_eq!(codes.len(), 10);

    let (status, out) = f
        .login_with("district_rc", json!({"recovery_code": codes[0]}))
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = f
        .login_with("district_rc", json!({"recovery_code": codes[0]}))
        .await;
    assert_eq!((status, code_of(&out)), (401, "totp_invalid"), "{out}");
    assert_eq!(out["field"], "recovery_code");
    // Typed without the dash and in capitals, another code still works.
    let typed = codes[1].replace('-', "").to_uppercase();
    let (status, out) = f
        .login_with("district_rc", json!({"recovery_code": typed}))
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, _) = f
        .login_with("district_rc", json!({"recovery_code": "aaaaa-aaaaa"}))
        .await;
    assert_eq!(status, 401);

    let (events, raw) = f.audit_of(user).await;
    let successes = events
        .iter()
        .filter(|(a, o)| a == "auth.totp_recovery_login" && o == "success")
        .count();
    let failures = events
        .iter()
        .filter(|(a, o)| a == "auth.totp_recovery_login" && o == "failure")
        .count();
    assert_eq!((successes, failures), (2, 2), "{events:?}");
    assert!(!raw.contains(&codes[0]), "recovery code in the audit log");
    f.app.stop().await;
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout() {
    let f = Fixture::spawn(vec![]).await;
    f.admin("grassroots_lock", Role::GrassrootsAdmin).await;
    let (secret, _) = f.enrolled("grassroots_lock").await;
    f.advance(30);
    let right = f.code(&secret, 0);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap_or(0) + 500_000) % 1_000_000
    );
    for _ in 0..5 {
        let (status, out) = f
            .login_with("grassroots_lock", json!({"totp": wrong}))
            .await;
        assert_eq!((status, code_of(&out)), (401, "totp_invalid"), "{out}");
    }
    let (status, out) = f
        .login_with("grassroots_lock", json!({"totp": right}))
        .await;
    assert_eq!((status, code_of(&out)), (429, "account_locked"), "{out}");
    // After the lock, the right code logs in.
    f.advance(15 * 60 + 30);
    let (status, out) = f
        .login_with("grassroots_lock", json!({"totp": f.code(&secret, 0)}))
        .await;
    assert_eq!(status, 200, "{out}");
    f.app.stop().await;
}

#[tokio::test]
async fn mandatory_setting_sends_county_and_district_admins_to_enrol_first() {
    let f = Fixture::spawn(vec![Role::CountyAdmin, Role::DistrictAdmin]).await;
    let user = f.admin("county_must", Role::CountyAdmin).await;
    f.admin("union_free", Role::GrassrootsAdmin).await;

    // Roles not in the list log in as before.
    assert_eq!(f.login_with("union_free", json!({})).await.0, 200);
    // A wrong password still answers as always.
    let (status, out) = f
        .login(json!({"username": "county_must", "password": "Wrong-Password-1"}))
        .await;
    assert_eq!((status, code_of(&out)), (401, "invalid_credentials"));

    let (status, out) = f.login_with("county_must", json!({})).await;
    assert_eq!(
        (status, code_of(&out)),
        (403, "totp_enrolment_required"),
        "{out}"
    );
    assert!(out.get("token").is_none());
    let ticket = out["enrolment_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!ticket.is_empty());
    assert_eq!(out["expires_in"], 600);
    // The ticket is no session.
    assert_eq!(f.app.get("/api/v1/me", Some(&ticket)).await.0, 401);

    let (status, enrol) = f
        .app
        .post_json("/api/v1/auth/totp/enrol", &json!({}), Some(&ticket))
        .await;
    assert_eq!(status, 200, "{enrol}");
    let secret = enrol["secret"].as_str().unwrap_or_default().to_owned();
    // Enrolling again before confirming replaces the pending secret.
    let (status, again) = f
        .app
        .post_json("/api/v1/auth/totp/enrol", &json!({}), Some(&ticket))
        .await;
    assert_eq!(status, 200, "{again}");
    let replaced = again["secret"].as_str().unwrap_or_default().to_owned();
    assert_ne!(secret, replaced);
    let (status, out) = f
        .app
        .post_json(
            "/api/v1/auth/totp/confirm",
            &json!({"totp": f.code(&secret, 0)}),
            Some(&ticket),
        )
        .await;
    assert_eq!(
        (status, code_of(&out)),
        (401, "totp_invalid"),
        "old pending: {out}"
    );

    // Confirming with the ticket completes the login.
    let (status, out) = f
        .app
        .post_json(
            "/api/v1/auth/totp/confirm",
            &json!({"totp": f.code(&replaced, 0)}),
            Some(&ticket),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "active");
    let token = out["login"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, me) = f.app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "county_admin");
    // The ticket is spent.
    let (status, _) = f
        .app
        .post_json("/api/v1/auth/totp/enrol", &json!({}), Some(&ticket))
        .await;
    assert_eq!(status, 401);

    // From now on the usual two-factor login.
    let (status, out) = f.login_with("county_must", json!({})).await;
    assert_eq!((status, code_of(&out)), (401, "totp_required"), "{out}");
    f.advance(30);
    let (status, out) = f
        .login_with("county_must", json!({"totp": f.code(&replaced, 0)}))
        .await;
    assert_eq!(status, 200, "{out}");

    let (events, _) = f.audit_of(user).await;
    let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "auth.totp_enrolment_required",
            "auth.totp_enrol",
            "auth.totp_enrol",
            "auth.totp_confirm",
            "auth.totp_confirm",
            "auth.totp_login",
        ],
        "{events:?}"
    );
    f.app.stop().await;
}

#[tokio::test]
async fn replacing_an_active_authenticator_needs_its_current_code() {
    let f = Fixture::spawn(vec![]).await;
    f.admin("county_swap", Role::CountyAdmin).await;
    let (old, _) = f.enrolled("county_swap").await;
    f.advance(30);
    let (status, out) = f
        .login_with("county_swap", json!({"totp": f.code(&old, 0)}))
        .await;
    assert_eq!(status, 200, "{out}");
    let token = out["token"].as_str().unwrap_or_default().to_owned();

    // A stolen session alone cannot swap the authenticator.
    let (status, out) = f
        .app
        .post_json("/api/v1/auth/totp/enrol", &json!({}), Some(&token))
        .await;
    assert_eq!((status, code_of(&out)), (401, "totp_required"), "{out}");
    f.advance(30);
    let (status, enrol) = f
        .app
        .post_json(
            "/api/v1/auth/totp/enrol",
            &json!({"totp": f.code(&old, 0)}),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{enrol}");
    let new = enrol["secret"].as_str().unwrap_or_default().to_owned();

    // Until the new one is confirmed, the old one stays in force.
    f.advance(30);
    let (status, out) = f
        .login_with("county_swap", json!({"totp": f.code(&new, 0)}))
        .await;
    assert_eq!(status, 401, "{out}");
    let (status, out) = f
        .login_with("county_swap", json!({"totp": f.code(&old, 0)}))
        .await;
    assert_eq!(status, 200, "{out}");
    f.advance(30);
    let (status, out) = f
        .app
        .post_json(
            "/api/v1/auth/totp/confirm",
            &json!({"totp": f.code(&new, 0)}),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    f.advance(30);
    let (status, _) = f
        .login_with("county_swap", json!({"totp": f.code(&old, 0)}))
        .await;
    assert_eq!(status, 401, "the old authenticator no longer works");
    let (status, out) = f
        .login_with("county_swap", json!({"totp": f.code(&new, 0)}))
        .await;
    assert_eq!(status, 200, "{out}");

    // Workers cannot enrol.
    let worker = f.app.login("wx-openid-totp").await;
    let (status, _) = f
        .app
        .post_json("/api/v1/auth/totp/enrol", &json!({}), Some(&worker))
        .await;
    assert_eq!(status, 403);
    f.app.stop().await;
}

/// Issue 13, item 9: codes have a limit of their own (not shared with wrong passwords), counted
/// before the code is checked, so concurrent guesses get no extra tries.
#[tokio::test]
async fn item9_second_factor_codes_have_their_own_limit_and_concurrent_guesses_get_no_extra_tries()
{
    // The password limit out of the way, so that concurrent logins reach the code.
    let now = Utc::now().timestamp();
    let start = DateTime::<Utc>::from_timestamp(now - now.rem_euclid(30) + 5, 0)
        .unwrap_or_else(|| panic!("timestamp"));
    let clock = Arc::new(FixedClock::new(start));
    let app = TestApp::spawn_with_clock(
        |s| s.auth.max_failed_logins_per_account_address = 100,
        clock.clone(),
    )
    .await;
    let f = Fixture { app, clock };
    f.admin("grassroots_2fa", Role::GrassrootsAdmin).await;
    let (secret, _) = f.enrolled("grassroots_2fa").await;
    f.advance(30);
    // Three wrong passwords and four wrong codes: neither limit is reached.
    for _ in 0..3 {
        let (status, out) = f
            .login(json!({"username": "grassroots_2fa", "password": "Wrong-Password-9"}))
            .await;
        assert_eq!(
            (status, code_of(&out)),
            (401, "invalid_credentials"),
            "{out}"
        );
    }
    let right = f.code(&secret, 0);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap_or(0) + 500_000) % 1_000_000
    );
    for _ in 0..4 {
        let (status, out) = f.login_with("grassroots_2fa", json!({"totp": wrong})).await;
        assert_eq!((status, code_of(&out)), (401, "totp_invalid"), "{out}");
    }
    let (status, out) = f.login_with("grassroots_2fa", json!({"totp": right})).await;
    assert_eq!(status, 200, "shared counter: {out}");

    // Twenty concurrent wrong codes (right password): at most five are checked.
    f.advance(30);
    let answers = futures_util::future::join_all(
        (0..20).map(|_| f.login_with("grassroots_2fa", json!({"totp": wrong}))),
    )
    .await;
    let invalid = answers.iter().filter(|(s, _)| *s == 401).count();
    let locked = answers
        .iter()
        .filter(|(s, b)| *s == 429 && code_of(b) == "account_locked")
        .count();
    assert_eq!((invalid, locked), (5, 15), "{answers:?}");
    // Recovery codes count against the same limit.
    let (status, out) = f
        .login_with("grassroots_2fa", json!({"recovery_code": "aaaa-bbbb-cccc"}))
        .await;
    assert_eq!((status, code_of(&out)), (429, "account_locked"), "{out}");
    f.app.stop().await;
}
