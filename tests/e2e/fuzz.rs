//! Item 18 of issue 13: the OpenAPI document tells the truth. Schemathesis (from PyPI, pinned in
//! `tests/fuzz/requirements.txt`, installed by `tests/run.sh` into `target/schemathesis`)
//! generates requests from `/api/openapi.json` against a spawned service, once as a county
//! administrator and once as a WeChat worker, and fails on any server error, any status code
//! the operation does not document, and any content type it does not document.
//!
//! The fuzzer is required: without it this test fails (it never skips).

use crate::helpers::TestApp;
use huigong_core::Role;
use std::path::PathBuf;
use std::process::Command;

fn schemathesis() -> PathBuf {
    if let Some(p) = std::env::var_os("HUIGONG_SCHEMATHESIS") {
        return PathBuf::from(p);
    }
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/schemathesis/bin/schemathesis");
    assert!(
        p.exists(),
        "Schemathesis is not installed at {}: run tests/run.sh (it installs it), or \
         python3 -m venv target/schemathesis && target/schemathesis/bin/pip install -r tests/fuzz/requirements.txt",
        p.display()
    );
    p
}

/// Runs the fuzzer as the holder of `token`; answers (success, its output).
async fn fuzz(app: &TestApp, token: String) -> (bool, String) {
    let bin = schemathesis();
    let schema = app.url("/api/openapi.json");
    // The subprocess blocks; the service runs on this test's runtime meanwhile.
    // Its cache (and the crashes it would replay) stays out of the source tree and out of other
    // runs: a directory of this run's own.
    let dir = std::env::temp_dir().join(format!("huigong-fuzz-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("fuzz dir: {e}"));
    let cwd = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .current_dir(cwd)
            .args(["run", &schema, "--no-color"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance",
            ])
            // Logging out would end the session the rest of the run uses.
            .args(["--exclude-path", "/api/v1/auth/logout"])
            .args(["--max-examples", "25", "--workers", "2", "--seed", "1"])
            .output()
    })
    .await
    .unwrap_or_else(|e| panic!("fuzzer task: {e}"))
    .unwrap_or_else(|e| panic!("cannot run schemathesis: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn item18_openapi_fuzz_finds_no_server_error_or_undocumented_answer() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.token_for(Role::CountyAdmin).await;
    let worker = app.login("fuzz-worker").await;
    for (who, token) in [("county admin", admin), ("worker", worker)] {
        let (ok, report) = fuzz(&app, token).await;
        assert!(ok, "schemathesis as {who} found problems:\n{report}");
        assert!(
            report.contains("passed"),
            "schemathesis as {who} ran nothing:\n{report}"
        );
    }
    app.stop().await;
}
