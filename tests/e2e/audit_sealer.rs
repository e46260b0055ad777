//! The audit sealer across instances (issue 18): audited writes commit unlinked on whichever
//! instance serves them; one sealer (the lease holder) links them into one chain.

use crate::helpers::TestApp;
use huigong_core::Role;
use huigong_store::audit::{self, Verification};
use huigong_store::audit_sealer::LEASE_KEY;
use serde_json::{Value, json};

fn merchant(name: &str) -> Value {
    let day = |offset: i64| {
        (huigong_store::merchants::beijing_day(chrono::Utc::now()) + chrono::Duration::days(offset))
            .to_string()
    };
    json!({
        "name": name, "category": "餐饮",
        "address": "浙江省湖州市长兴县雉城街道人民路1号", "phone": "0572-6022448",
        "discounts": [
            {"title": "会员九折", "kind": "percent", "value": 10, "valid_from": day(-30),
             "valid_to": day(30), "daily_limit_per_card": 2}
        ]
    })
}

/// Polls `verify` until `events` are sealed and nothing waits (a bounded wait, not a timing
/// claim: the sealer seals within about a second).
async fn until_sealed(app: &TestApp, events: u64) -> Verification {
    for _ in 0..600 {
        let v = audit::verify(&app.state.db)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if v.unsealed == 0 && v.checked >= events {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("audit events not sealed within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_writes_on_two_instances_are_sealed_into_one_chain_by_one_sealer() {
    let (a, b) = TestApp::two_sharing_services().await;
    let (_, token_a) = a.token_for(Role::CountyAdmin).await;
    let (_, token_b) = b.token_for(Role::CountyAdmin).await;
    let mut writes = Vec::new();
    for i in 0..4 {
        for (app, token) in [(&a, &token_a), (&b, &token_b)] {
            let name = format!("惠民餐厅{i}");
            let body = merchant(&name);
            writes.push(async move {
                app.post_json("/api/v1/admin/merchants", &body, Some(token))
                    .await
            });
        }
    }
    for (status, body) in futures_util::future::join_all(writes).await {
        assert_eq!(status, 201, "{body}");
    }
    let v = until_sealed(&a, 8).await;
    assert_eq!(v.broken, None, "{v:?}");
    // Every write's event is in the one chain, once.
    let created = audit::Filter {
        action: Some("merchant.create".to_owned()),
        ..audit::Filter::default()
    };
    let (events, total) = audit::list(&a.state.db, &created, None, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(total, 8);
    assert!(
        events.iter().all(|e| e.hash.len() == 32),
        "an event was left unsealed"
    );
    // One lease for both instances, held by one of them.
    let holder = a
        .state
        .sessions
        .store()
        .get(LEASE_KEY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(holder.is_some(), "no instance holds the sealer's lease");
}

#[tokio::test]
async fn an_audited_write_is_sealed_by_the_running_service() {
    let app = TestApp::spawn().await;
    let (_, token) = app.token_for(Role::CountyAdmin).await;
    let before = audit::verify(&app.state.db)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .checked;
    let (status, body) = app
        .post_json(
            "/api/v1/admin/merchants",
            &merchant("惠民餐厅"),
            Some(&token),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let v = until_sealed(&app, before + 1).await;
    assert_eq!(v.broken, None, "{v:?}");
}
