//! Union posters (issue 16): a printable PNG whose mini-program code (from the WeChat mock's
//! `getwxacodeunlimit`) carries the union's scene code, scoped and audited like the other org
//! routes, cached until the union is renamed; the scene resolved back to the union.

use crate::helpers::{TestApp, county_org};
use crate::unions::{World, created, grassroots, world};
use huigong_core::Role;
use serde_json::{Value, json};

/// GET with a bearer token: status, content type, body bytes.
async fn fetch(app: &TestApp, path: &str, token: &str) -> (u16, String, Vec<u8>) {
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.bytes().await.unwrap_or_default().to_vec();
    (status, kind, body)
}

fn poster_path(org: &str) -> String {
    format!("/api/v1/admin/orgs/{org}/poster.png")
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// The PNG's size and its pixels as greyscale.
fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("not a PNG: {e}"));
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or_default()];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("PNG frame: {e}"));
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut grey = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &buf[y * info.line_size..];
        for x in 0..w {
            let px = &row[x * channels..x * channels + channels];
            let v = if channels >= 3 {
                (u32::from(px[0]) * 299 + u32::from(px[1]) * 587 + u32::from(px[2]) * 114) / 1000
            } else {
                u32::from(px[0])
            };
            grey.push(u8::try_from(v).unwrap_or(255));
        }
    }
    (w, h, grey)
}

/// Every QR code found in the image, decoded.
fn qr_contents(w: usize, h: usize, grey: &[u8]) -> Vec<String> {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| grey[y * w + x]);
    img.detect_grids()
        .iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}

/// The scene a poster's code carries (`pages/apply/index?scene=…`).
fn scene_of(poster: &[u8]) -> String {
    let (w, h, grey) = decode_png(poster);
    let found = qr_contents(w, h, &grey);
    assert_eq!(found.len(), 1, "one code on the poster: {found:?}");
    let text = &found[0];
    let scene = text
        .strip_prefix("pages/apply/index?scene=")
        .unwrap_or_else(|| panic!("the code opens 申请入会: {text}"));
    scene.to_owned()
}

async fn poster_audits(w: &World, org: &str) -> usize {
    let (status, page) = w
        .app
        .get(
            &format!("/api/v1/admin/audit?target_type=org&target_id={org}&limit=100"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .map(|items| items.iter().filter(|e| e["action"] == "org.poster").count())
        .unwrap_or_default()
}

#[tokio::test]
async fn poster_is_an_a4_png_whose_code_decodes_to_the_unions_scene() {
    let w = world().await;
    let (status, kind, body) = fetch(&w.app, &poster_path(&w.union_a), &w.union_a_token).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(kind, "image/png");
    let (width, height, _) = decode_png(&body);
    assert_eq!((width, height), (1240, 1754));

    let scene = scene_of(&body);
    assert_eq!(scene.len(), 10, "{scene}");
    assert!(
        !scene.contains(&w.union_a),
        "the scene is not the union's id"
    );

    // The worker's mini program resolves the scene to the union.
    let worker = w.app.login("o_poster_reader").await;
    let (status, union) = w
        .app
        .get(&format!("/api/v1/unions/scene/{scene}"), Some(&worker))
        .await;
    assert_eq!(status, 200, "{union}");
    assert_eq!(union["id"], w.union_a.as_str());
    assert_eq!(union["name"], "甲公司工会");
    assert_eq!(union["district"], "雉城街道总工会");
    assert_eq!(
        union.as_object().map(|o| o.len()),
        Some(3),
        "public fields only: {union}"
    );
    // The district's admin gets the same union's poster, with the same scene.
    let (status, _, again) = fetch(&w.app, &poster_path(&w.union_a), &w.district_a_token).await;
    assert_eq!(status, 200);
    assert_eq!(scene_of(&again), scene);
}

#[tokio::test]
async fn poster_outside_the_callers_scope_is_404_like_the_other_org_routes() {
    let w = world().await;
    for (org, token) in [
        (&w.union_b, &w.union_a_token),
        (&w.union_b, &w.district_a_token),
        (&w.district_a, &w.union_a_token),
    ] {
        let (status, _, body) = fetch(&w.app, &poster_path(org), token).await;
        assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
        let (org_status, org_body) = w
            .app
            .get(&format!("/api/v1/admin/orgs/{org}"), Some(token))
            .await;
        assert_eq!(org_status, 404);
        assert_eq!(json_of(&body), org_body, "the same 404 as GET the org");
    }
    let unknown = uuid::Uuid::now_v7();
    let (status, _, _) = fetch(&w.app, &poster_path(&unknown.to_string()), &w.county_token).await;
    assert_eq!(status, 404);
    // A district is no union to apply to.
    let (status, _, body) = fetch(&w.app, &poster_path(&w.district_a), &w.county_token).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(w.app.mock.calls("getwxacodeunlimit"), 0);
    assert_eq!(poster_audits(&w, &w.union_b).await, 0);
}

#[tokio::test]
async fn poster_downloads_are_audited_and_cached_until_the_union_is_renamed() {
    let w = world().await;
    let (status, _, first) = fetch(&w.app, &poster_path(&w.union_a), &w.union_a_token).await;
    assert_eq!(status, 200);
    let (status, _, second) = fetch(&w.app, &poster_path(&w.union_a), &w.union_a_token).await;
    assert_eq!(status, 200);
    assert_eq!(first, second, "the cached poster");
    assert_eq!(
        w.app.mock.calls("getwxacodeunlimit"),
        1,
        "a cache hit does not ask WeChat again"
    );
    assert_eq!(
        poster_audits(&w, &w.union_a).await,
        2,
        "each download audited"
    );

    let (status, out) = crate::helpers::send(
        w.app
            .http
            .patch(w.app.url(&format!("/api/v1/admin/orgs/{}", w.union_a)))
            .bearer_auth(&w.district_a_token)
            .json(&json!({"name": "甲公司新工会"})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let (status, _, renamed) = fetch(&w.app, &poster_path(&w.union_a), &w.union_a_token).await;
    assert_eq!(status, 200);
    assert_ne!(renamed, first, "a renamed union gets a new poster");
    assert_eq!(w.app.mock.calls("getwxacodeunlimit"), 2);
    assert_eq!(scene_of(&renamed), scene_of(&first), "the scene stays");
    assert_eq!(poster_audits(&w, &w.union_a).await, 3);
}

#[tokio::test]
async fn wechat_errors_on_the_poster_are_502_or_503_with_codes_and_nothing_is_cached() {
    let w = world().await;
    for (errcode, status, code) in [
        (45009, 503, "wechat_quota_exceeded"),
        (-1, 503, "wechat_busy"),
        (41030, 502, "wechat_wxacode_refused"),
        (40169, 502, "wechat_wxacode_refused"),
        (44990, 502, "wechat_unavailable"),
    ] {
        w.app.mock.force_error("getwxacodeunlimit", errcode, 1);
        let (got, kind, body) = fetch(&w.app, &poster_path(&w.union_a), &w.union_a_token).await;
        let body = json_of(&body);
        assert_eq!(got, status, "errcode {errcode}: {body}");
        assert!(kind.starts_with("application/json"), "{kind}");
        assert_eq!(body["code"], code, "errcode {errcode}: {body}");
    }
    assert_eq!(
        poster_audits(&w, &w.union_a).await,
        0,
        "no poster, no download"
    );
    let (status, _, _) = fetch(&w.app, &poster_path(&w.union_a), &w.union_a_token).await;
    assert_eq!(status, 200, "a failure was not cached");
    assert_eq!(w.app.mock.calls("getwxacodeunlimit"), 6);
}

/// A service with a union below a district, and the county admin's token.
async fn one_union(
    adjust: impl FnOnce(&mut huigong_server::settings::Settings),
) -> (TestApp, String, String) {
    let app = TestApp::spawn_with(adjust).await;
    let (_, county_token) = app.token_for(Role::CountyAdmin).await;
    let district = created(
        &app,
        "/api/v1/admin/orgs",
        &json!({"parent_id": county_org(), "level": "district", "name": "雉城街道总工会"}),
        &county_token,
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let union = created(
        &app,
        "/api/v1/admin/orgs",
        &grassroots(&district, "丙公司工会", "91350100M000100Y43"),
        &county_token,
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (app, county_token, union)
}

#[tokio::test]
async fn poster_without_its_font_is_503_before_wechat_is_asked() {
    let (app, token, union) = one_union(|s| {
        s.poster.font_path = "/nonexistent/fonts/none.ttc".into();
    })
    .await;
    let (status, _, body) = fetch(&app, &poster_path(&union), &token).await;
    let body = json_of(&body);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "poster_font_missing");
    assert_eq!(app.mock.calls("getwxacodeunlimit"), 0);
}

#[tokio::test]
async fn unknown_scenes_are_404_and_scene_lookups_are_limited_per_address() {
    let (app, token, union) = one_union(|s| {
        s.poster.scene_lookups_per_ip_per_hour = 4;
    })
    .await;
    let (status, _, poster) = fetch(&app, &poster_path(&union), &token).await;
    assert_eq!(status, 200);
    let scene = scene_of(&poster);
    let worker = app.login("o_scene_guesser").await;
    let lookup = |code: String| {
        let (app, worker) = (&app, &worker);
        async move {
            app.get(&format!("/api/v1/unions/scene/{code}"), Some(worker))
                .await
        }
    };
    let (status, _) = app
        .get(&format!("/api/v1/unions/scene/{scene}"), None)
        .await;
    assert_eq!(status, 401, "workers only");
    let (status, found) = lookup(scene.clone()).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["id"], union.as_str());
    // Another code of the same shape, and codes of other shapes.
    let other: String = scene
        .chars()
        .map(|c| if c == '2' { '3' } else { '2' })
        .collect();
    for code in [other, union.clone(), "x".repeat(40)] {
        let (status, body) = lookup(code).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["code"], "not_found");
    }
    let (status, body) = lookup(scene).await;
    assert_eq!(status, 429, "the fifth look-up this hour: {body}");
    assert_eq!(body["code"], "too_many_attempts");
}
