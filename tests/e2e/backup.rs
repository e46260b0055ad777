//! `huigong backup` / `huigong restore` (crates/huigong-server/src/backup.rs) on the selected
//! backend: a backup taken while workers keep writing through the API restores into an empty
//! database with the manifest's counts, an intact audit chain and sealed fields that open with
//! the same keys; a restore with other keys, into a non-empty database or of a changed dump is
//! refused before anything is written.

use crate::helpers::{TestApp, base_settings, fresh_pg_database, services, tempdir, use_services};
use crate::unions::{id_number, member, world};
use huigong_core::id_number::IdNumber;
use huigong_server::backup;
use huigong_server::settings::Settings;
use huigong_store::Database;
use huigong_store::db::DatabaseOptions;
use huigong_vault::{KeyMaterial, KeyRing};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Where `pg_dump` and `pg_restore` are (tests/services.sh exports the path of pg_dump).
fn pg_bin() -> Option<PathBuf> {
    if !use_services() {
        return None;
    }
    let dump = std::env::var("HUIGONG_TEST_PG_DUMP").unwrap_or_else(|_| {
        panic!("HUIGONG_TEST_PG_DUMP is not set: run the suite with tests/run.sh")
    });
    PathBuf::from(dump).parent().map(PathBuf::from)
}

/// The same settings (and keys) pointed at a new, empty database of the same backend.
async fn empty_target(from: &Settings) -> (Settings, Option<tempdir::TempDir>) {
    let mut settings = from.clone();
    if use_services() {
        settings.database.url = fresh_pg_database(&services().pg_url).await.into();
        (settings, None)
    } else {
        let dir = tempdir::TempDir::new();
        settings.database.url = format!("sqlite://{}/restored.sqlite", dir.path().display()).into();
        (settings, Some(dir))
    }
}

async fn connect(settings: &Settings) -> Database {
    Database::connect(&DatabaseOptions {
        url: settings.database.url.expose().to_owned(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// The target holds no table: nothing was written.
async fn assert_untouched(settings: &Settings) {
    let url = settings.database.url.expose();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        assert!(
            !std::path::Path::new(path).exists(),
            "the refused restore created {path}"
        );
        return;
    }
    let db = connect(settings).await;
    let tables = huigong_store::backup::tables(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("tables: {e}"));
    assert!(tables.is_empty(), "the refused restore wrote {tables:?}");
}

const NAME: &str = "张三丰";

#[tokio::test]
async fn a_backup_under_write_load_restores_with_its_counts_audit_chain_and_sealed_fields() {
    let w = world().await;
    let app = &w.app;
    let first = id_number("19900101", 1);
    let (status, out) = app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/members", w.union_a),
            &member(NAME, &first, "男"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 201, "{out}");

    // Four workers add members through the API until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let added = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for worker in 0..4u32 {
        let (http, base, token) = (app.http.clone(), app.base.clone(), w.county_token.clone());
        let path = format!("{base}/api/v1/admin/orgs/{}/members", w.union_a);
        let (stop, added) = (Arc::clone(&stop), Arc::clone(&added));
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for seq in 0..499u32 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let id = id_number(&format!("198{worker}0101"), seq * 2);
                let (status, body) = crate::helpers::send(
                    http.post(&path)
                        .bearer_auth(&token)
                        .json(&member("李四", &id, "女")),
                )
                .await;
                if status == 201 {
                    added.fetch_add(1, Ordering::SeqCst);
                } else {
                    failures.push(format!("{status} {body}"));
                }
            }
            failures
        }));
    }
    let wait_for = |n: u64| {
        let added = Arc::clone(&added);
        async move {
            while added.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(8).await;
    let before = added.load(Ordering::SeqCst);
    let dir = tempdir::TempDir::new();
    let to = dir.path().join("backup");
    let manifest = backup::backup(&app.settings, &to, pg_bin().as_deref())
        .await
        .unwrap_or_else(|e| panic!("backup: {e:#}"));
    let at_end = added.load(Ordering::SeqCst);
    // The writers go on after the backup: it ran under load from start to end.
    wait_for(at_end + 8).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        let failures = worker.await.unwrap_or_default();
        assert!(
            failures.is_empty(),
            "writes failed during the backup: {failures:?}"
        );
    }
    let after = added.load(Ordering::SeqCst);

    // The manifest: one consistent moment between the first and the last write.
    let memberships = manifest.tables.get("memberships").copied().unwrap_or(0);
    assert!(
        (1 + before..=1 + after).contains(&memberships),
        "{memberships} memberships in the backup, {before}..{after} added around it"
    );
    assert!(manifest.tables.get("audit_events").copied().unwrap_or(0) > 0);
    assert!(manifest.migration.last.is_some());
    assert!(
        manifest.keys.iter().any(|k| k.name == "encryption:1")
            && manifest.keys.iter().any(|k| k.name == "blind_index"),
        "{:?}",
        manifest.keys
    );
    // The dump and the manifest are the owner's alone (copied off with `cp -p` they stay so).
    #[cfg(unix)]
    for entry in std::fs::read_dir(&to).unwrap_or_else(|e| panic!("{e}")) {
        use std::os::unix::fs::PermissionsExt as _;
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let mode = entry
            .metadata()
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600, "{:?} is {mode:o}", entry.file_name());
    }
    let text = std::fs::read_to_string(to.join("manifest.json")).unwrap_or_default();
    let material = std::fs::read_to_string(&app.settings.vault.dev_key_file).unwrap_or_default();
    for line in material.lines().filter(|l| l.contains('=')) {
        let secret = line.split('"').nth(1).unwrap_or("-");
        for part in secret.split(',') {
            let key = part.split_once(':').map_or(part, |(_, k)| k);
            assert!(!text.contains(key), "a key reached the manifest");
        }
    }

    let (target, _target_dir) = empty_target(&app.settings).await;
    let restored = backup::restore(&target, &to, pg_bin().as_deref())
        .await
        .unwrap_or_else(|e| panic!("restore: {e:#}"));
    assert_eq!(restored.manifest, manifest);

    // Counts equal the manifest's, the audit chain verifies with the keys, sealed fields open.
    let ring = KeyRing::new(
        &huigong_server::keys::load_material(&target).unwrap_or_else(|e| panic!("{e:#}")),
    );
    let db = connect(&target)
        .await
        .with_chain_keys(ring.chain_keys().clone());
    let described = huigong_store::backup::describe(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("describe: {e}"));
    assert_eq!(described.counts, manifest.tables);
    // Events the service wrote during the backup may not have been sealed yet when it was
    // taken: the restored copy seals them (as its service would) and then the whole chain holds.
    huigong_store::audit_sealer::seal_now(&db)
        .await
        .unwrap_or_else(|e| panic!("seal: {e}"));
    let verified = huigong_store::audit::verify(&db)
        .await
        .unwrap_or_else(|e| panic!("verify: {e}"));
    assert_eq!(verified.broken, None);
    assert_eq!(verified.unsealed, 0);
    // Every event of the dump is in the chain (a number a writer held uncommitted at the
    // snapshot is recorded as skipped, so the chain may hold more).
    let dumped = manifest.tables.get("audit_events").copied().unwrap_or(0);
    assert!(
        verified.checked >= dumped,
        "{} sealed of {dumped} dumped",
        verified.checked
    );
    let id = IdNumber::parse(&first, chrono::Utc::now().date_naive())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let person = huigong_store::people::find_by_id_number(&db.conn, &ring, &id)
        .await
        .unwrap_or_else(|e| panic!("read person: {e}"))
        .unwrap_or_else(|| panic!("the member added before the backup is not restored"));
    assert_eq!(person.name.as_str(), NAME);
    w.app.stop().await;
}

/// A backup of a fresh service with one member, and the settings it was taken with.
async fn small_backup() -> (TestApp, tempdir::TempDir, PathBuf) {
    let w = world().await;
    let (status, out) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/members", w.union_a),
            &member(NAME, &id_number("19900101", 1), "男"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let dir = tempdir::TempDir::new();
    let to = dir.path().join("backup");
    backup::backup(&w.app.settings, &to, pg_bin().as_deref())
        .await
        .unwrap_or_else(|e| panic!("backup: {e:#}"));
    (w.app, dir, to)
}

#[tokio::test]
async fn a_restore_with_other_keys_is_refused_without_writing() {
    let (app, _dir, from) = small_backup().await;
    let (mut target, _target_dir) = empty_target(&app.settings).await;
    // Keys of another installation under the same ids.
    let other = base_settings();
    huigong_server::keys::write_dev_file(
        std::path::Path::new(&other.vault.dev_key_file),
        &KeyMaterial::generate(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    target.vault.dev_key_file = other.vault.dev_key_file.clone();
    let err = backup::restore(&target, &from, pg_bin().as_deref())
        .await
        .err()
        .unwrap_or_else(|| panic!("a restore with other keys succeeded"));
    let text = format!("{err:#}");
    assert!(
        text.contains("not the key the backup was written with"),
        "{text}"
    );
    assert_untouched(&target).await;
    let _ = std::fs::remove_file(&other.vault.dev_key_file);
    app.stop().await;
}

#[tokio::test]
async fn a_restore_into_a_database_in_use_or_of_a_changed_dump_is_refused() {
    let (app, _dir, from) = small_backup().await;
    // The service's own database is not empty.
    let err = backup::restore(&app.settings, &from, pg_bin().as_deref())
        .await
        .err()
        .unwrap_or_else(|| panic!("a restore over live data succeeded"));
    assert!(format!("{err:#}").contains("not empty"), "{err:#}");

    // One byte of the dump changed: refused before the target is touched.
    let manifest = backup::read_manifest(&from).unwrap_or_else(|e| panic!("{e:#}"));
    let dump = from.join(&manifest.dump.file);
    let mut bytes = std::fs::read(&dump).unwrap_or_default();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&dump, bytes).unwrap_or_else(|e| panic!("{e}"));
    let (target, _target_dir) = empty_target(&app.settings).await;
    let err = backup::restore(&target, &from, pg_bin().as_deref())
        .await
        .err()
        .unwrap_or_else(|| panic!("a changed dump was restored"));
    assert!(
        format!("{err:#}").contains("does not match its manifest"),
        "{err:#}"
    );
    assert_untouched(&target).await;
    app.stop().await;
}
