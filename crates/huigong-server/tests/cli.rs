//! The `huigong` binary's operations commands, run as a process against an SQLite database
//! (the commands' storage logic is tested on both backends in huigong-store).

use huigong_server::keys;
use huigong_server::settings::{Profile, Settings};
use huigong_store::Database;
use huigong_store::audit::{self, Actor, Entry, Outcome};
use huigong_store::db::DatabaseOptions;
use huigong_store::people::{self, PersonInput};
use huigong_vault::{KeyMaterial, KeyRing};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

fn repo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("huigong-cli-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        Self { dir }
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}/huigong.sqlite", self.dir.display())
    }

    /// Runs `huigong ARGS` in development profile on this sandbox's database.
    fn huigong(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_huigong"));
        for (k, _) in std::env::vars() {
            if k.starts_with("HUIGONG") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("HUIGONG_CONFIG_DIR", repo_config())
            .env("HUIGONG_PROFILE", "development")
            .env("HUIGONG__DATABASE__URL", self.db_url())
            .env("HUIGONG__LOG__FILTER", "warn");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("running huigong: {e}"))
    }

    fn settings(&self) -> Settings {
        let mut s = Settings::load_files(&repo_config(), Profile::Development)
            .unwrap_or_else(|e| panic!("{e:#}"));
        s.database.url = self.db_url().into();
        s
    }

    /// The sandbox's database, its audit events chained with the development keys the
    /// commands use.
    async fn database(&self) -> Database {
        let ring = keys::load_key_ring(&self.settings()).unwrap_or_else(|e| panic!("{e:#}"));
        let db = Database::connect(&DatabaseOptions {
            url: self.db_url(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(3),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .with_chain_keys(ring.chain_keys().clone());
        db.migrate().await.unwrap_or_else(|e| panic!("{e}"));
        db
    }

    fn key_file(&self) -> PathBuf {
        keys::dev_key_file(&self.settings())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn keys_generate_prints_usable_fresh_secrets() {
    let sandbox = Sandbox::new();
    let a = sandbox.huigong(&["keys", "generate"], &[]);
    let b = sandbox.huigong(&["keys", "generate"], &[]);
    assert!(a.status.success(), "{}", text(&a.stderr));
    let out = text(&a.stdout);
    let value = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing from: {out}"))
            .to_owned()
    };
    let material = KeyMaterial::parse(
        &value("HUIGONG__VAULT__KEYS"),
        0,
        &value("HUIGONG__VAULT__BLIND_INDEX_KEY"),
    );
    assert!(material.is_ok(), "{material:?}");
    assert!(value("HUIGONG__AUTH__JWT_SECRET").len() >= 44);
    assert!(value("HUIGONG__CARD__QR_KEY").len() >= 44);
    assert_ne!(
        value("HUIGONG__CARD__QR_KEY"),
        value("HUIGONG__AUTH__JWT_SECRET")
    );
    assert_ne!(a.stdout, b.stdout, "two runs gave the same secrets");
    // Nothing was written: generate stores nothing.
    assert!(!sandbox.key_file().exists());
}

#[test]
fn production_without_secrets_refuses_with_one_line() {
    let sandbox = Sandbox::new();
    let out = sandbox.huigong(&["migrate"], &[("HUIGONG_PROFILE", "production")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("refusing to start"), "{err}");
}

#[test]
fn migrate_applies_and_is_repeatable() {
    let sandbox = Sandbox::new();
    for _ in 0..2 {
        let out = sandbox.huigong(&["migrate"], &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("migrations applied"));
    }
}

/// `n` audited writes, sealed into the chain (what the running service's sealer does).
async fn write_events(db: &Database, n: usize) {
    write_unsealed(db, n, chrono::Utc::now()).await;
    huigong_store::audit_sealer::seal_now(db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// `n` audited writes that happened at `at`, not sealed yet.
async fn write_unsealed(db: &Database, n: usize, at: chrono::DateTime<chrono::Utc>) {
    for i in 0..n {
        let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
        let entry = Entry {
            action: "cli.test",
            target_type: "test",
            target_id: Some(i.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        };
        audit::record(&txn, &Actor::system(), &entry, at)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test]
async fn audit_verify_reports_unsealed_events_and_fails_when_one_is_overdue() {
    let sandbox = Sandbox::new();
    let db = sandbox.database().await;
    write_events(&db, 2).await;
    write_unsealed(&db, 3, chrono::Utc::now()).await;
    let recent = sandbox.huigong(&["audit", "verify"], &[]);
    let out = text(&recent.stdout);
    assert!(recent.status.success(), "{out}{}", text(&recent.stderr));
    assert!(
        out.contains("intact: 2 events sealed; 3 recent events not sealed yet"),
        "{out}"
    );
    // An event waiting longer than `audit.unsealed_alarm_secs`: the sealer is not running.
    write_unsealed(&db, 1, chrono::Utc::now() - chrono::Duration::minutes(10)).await;
    let overdue = sandbox.huigong(&["audit", "verify"], &[]);
    let out = text(&overdue.stdout);
    assert_eq!(overdue.status.code(), Some(1), "{out}");
    assert!(
        out.contains("4 recent events not sealed yet") && out.contains("OVERDUE"),
        "{out}"
    );
    // Sealed, it passes again.
    huigong_store::audit_sealer::seal_now(&db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sealed = sandbox.huigong(&["audit", "verify"], &[]);
    assert!(sealed.status.success(), "{}", text(&sealed.stdout));
    assert!(text(&sealed.stdout).contains("intact: 6 events sealed; no events waiting"));
}

#[tokio::test]
async fn audit_verify_passes_then_names_the_tampered_event() {
    let sandbox = Sandbox::new();
    let db = sandbox.database().await;
    write_events(&db, 4).await;
    let ok = sandbox.huigong(&["audit", "verify"], &[]);
    assert!(
        ok.status.success(),
        "{}{}",
        text(&ok.stdout),
        text(&ok.stderr)
    );
    assert!(
        text(&ok.stdout).contains("intact: 4 events"),
        "{}",
        text(&ok.stdout)
    );

    use sea_orm::ConnectionTrait as _;
    db.conn
        .execute_unprepared("DROP TRIGGER audit_events_no_update")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    db.conn
        .execute_unprepared("UPDATE audit_events SET target_id = 'forged' WHERE seq = 2")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let broken = sandbox.huigong(&["audit", "verify"], &[]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        text(&broken.stdout).contains("BROKEN at event 2"),
        "{}",
        text(&broken.stdout)
    );
}

#[tokio::test]
async fn item12_key_rotation_records_the_new_keys_fingerprint_and_other_keys_are_refused() {
    use sea_orm::ConnectionTrait as _;
    let sandbox = Sandbox::new();
    let db = sandbox.database().await;
    let out = sandbox.huigong(&["keys", "rotate", "--new-key"], &[]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let rows = db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT key_name FROM vault_key_fingerprints ORDER BY key_name",
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("", "key_name").unwrap_or_default())
        .collect();
    assert_eq!(names, ["blind_index", "encryption:1", "encryption:2"]);
    // Keys of another set (another instance's development key file) are refused by name.
    let other = sandbox.dir.join("other-keys.toml");
    let other = other.display().to_string();
    for args in [&["keys", "rotate"][..], &["audit", "verify"][..]] {
        let out = sandbox.huigong(args, &[("HUIGONG__VAULT__DEV_KEY_FILE", other.as_str())]);
        assert!(!out.status.success(), "{args:?} ran with other keys");
        if args[0] == "keys" {
            assert!(
                text(&out.stderr).contains("vault key id 1"),
                "{}",
                text(&out.stderr)
            );
        }
    }
    // The development keys that wrote it verify its audit log.
    let ok = sandbox.huigong(&["audit", "verify"], &[]);
    assert!(ok.status.success(), "{}", text(&ok.stdout));
}

#[tokio::test]
async fn keys_rotate_new_key_reencrypts_development_data() {
    let sandbox = Sandbox::new();
    let settings = sandbox.settings();
    let db = sandbox.database().await;
    let old = KeyRing::new(&keys::load_material(&settings).unwrap_or_else(|e| panic!("{e:#}")));
    let id = huigong_core::id_number::IdNumber::parse(
        "11010519491231002X",
        chrono::Utc::now().date_naive(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
    people::save(
        &txn,
        &old,
        PersonInput {
            id_number: &id,
            name: "张三",
            mobile: None,
        },
        &Actor::system(),
        chrono::Utc::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    txn.commit().await.unwrap_or_else(|e| panic!("{e}"));

    let out = sandbox.huigong(&["keys", "rotate", "--new-key", "--batch-size", "1"], &[]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("done: 2 values re-encrypted"),
        "{}",
        text(&out.stdout)
    );

    let material = keys::load_material(&settings).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(material.active, 2);
    let new = KeyRing::new(&material);
    let person = people::find_by_id_number(&db.conn, &new, &id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(person.map(|p| p.name.to_string()), Some("张三".to_owned()));
    // Configured (production-style) keys are never changed by the command.
    let refused = sandbox.huigong(
        &["keys", "rotate", "--new-key"],
        &[
            ("HUIGONG__VAULT__KEYS", &material.keys_text()),
            (
                "HUIGONG__VAULT__BLIND_INDEX_KEY",
                &material.blind_index.to_base64(),
            ),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("HUIGONG__VAULT__KEYS"),
        "{}",
        text(&refused.stderr)
    );
}

/// A district union with one grassroots union under it: (district, grassroots).
async fn two_orgs(db: &Database, vault: &KeyRing) -> (uuid::Uuid, uuid::Uuid) {
    use huigong_core::labels::{OrgLevel, UnionType, UnitNature};
    use huigong_store::orgs::{self, NewOrg, NewUnion, NewUnit};
    let county_id = uuid::Uuid::parse_str(huigong_store::migration::COUNTY_ORG_ID)
        .unwrap_or_else(|e| panic!("{e}"));
    let county = orgs::get_in_scope(&db.conn, vault, county_id, "")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no county org"));
    let now = chrono::Utc::now();
    let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
    let district = orgs::create(
        &txn,
        vault,
        &county,
        &NewOrg {
            level: OrgLevel::District,
            name: "雉城街道总工会",
            union: None,
        },
        &Actor::system(),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let code = huigong_core::unit_code::UnitCode::parse("91350100M000100Y43")
        .unwrap_or_else(|e| panic!("{e}"));
    let phone =
        huigong_core::phone::ContactPhone::parse("0572-6022447").unwrap_or_else(|e| panic!("{e}"));
    let union = NewUnion {
        founded_on: chrono::NaiveDate::from_ymd_opt(2010, 1, 1).unwrap_or_default(),
        union_type: UnionType::Single,
        member_count: 3,
        leader_name: "王主席",
        phone: &phone,
        units: vec![NewUnit {
            name: "甲公司",
            code: &code,
            nature: UnitNature::parse_zh("私营经济").unwrap_or_else(|| panic!("nature")),
            nature_other: None,
            address: "长兴县",
            employee_count: 10,
        }],
    };
    let grassroots = orgs::create(
        &txn,
        vault,
        &district,
        &NewOrg {
            level: OrgLevel::Grassroots,
            name: "甲公司工会",
            union: Some(&union),
        },
        &Actor::system(),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
    (district.id, grassroots.id)
}

fn roster_row(name: &str, id_number: &str, sex: &str) -> huigong_roster::RosterExportRow {
    huigong_roster::RosterExportRow {
        name: name.to_owned(),
        sex: sex.to_owned(),
        id_number: id_number.to_owned(),
        nationality: "汉族".to_owned(),
        education: "大专".to_owned(),
        mobile: "13957200001".to_owned(),
        household_type: "农村".to_owned(),
        unit_name: "甲公司".to_owned(),
        employment_status: "在岗".to_owned(),
        union_post: "会员".to_owned(),
    }
}

#[tokio::test]
async fn roster_import_checks_then_commits_and_refuses_a_bad_file_whole() {
    let sandbox = Sandbox::new();
    let settings = sandbox.settings();
    let db = sandbox.database().await;
    let vault = KeyRing::new(&keys::load_material(&settings).unwrap_or_else(|e| panic!("{e:#}")));
    let (_, union) = two_orgs(&db, &vault).await;
    let union = union.to_string();
    let header = huigong_roster::RosterHeader {
        union_name: Some("甲公司工会".to_owned()),
        contact: None,
        phone: None,
    };
    let write = |rows: &[huigong_roster::RosterExportRow], name: &str| {
        let bytes = huigong_roster::write_roster(&header, rows).unwrap_or_else(|e| panic!("{e}"));
        let path = sandbox.dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        path.display().to_string()
    };
    let good = write(
        &[
            roster_row("张三", "11010519491231002X", "女"),
            roster_row("李四", "440524188001010014", "男"),
        ],
        "good.xlsx",
    );
    // 440524188001010014 is a man's number: the second row contradicts it.
    let bad = write(
        &[
            roster_row("张三", "11010519491231002X", "女"),
            roster_row("李四", "440524188001010014", "女"),
        ],
        "bad.xlsx",
    );

    let dry = sandbox.huigong(&["roster", "import", &good, "--org", &union], &[]);
    assert!(
        dry.status.success(),
        "{}{}",
        text(&dry.stdout),
        text(&dry.stderr)
    );
    assert!(
        text(&dry.stdout).contains("2 rows, 2 valid, 0 errors"),
        "{}",
        text(&dry.stdout)
    );
    assert!(
        text(&dry.stdout).contains("dry run"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(member_count(&db).await, 0, "a dry run writes nothing");

    let refused = sandbox.huigong(
        &["roster", "import", &bad, "--org", &union, "--commit"],
        &[],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let out = text(&refused.stdout);
    assert!(
        out.contains("第 7 行 性别"),
        "the error names row and column: {out}"
    );
    assert!(
        !out.contains("440524188001010014"),
        "no ID number in the report: {out}"
    );
    assert_eq!(
        member_count(&db).await,
        0,
        "a refused commit writes nothing"
    );

    let done = sandbox.huigong(
        &[
            "roster", "import", &good, "--org", &union, "--commit", "--json",
        ],
        &[],
    );
    assert!(
        done.status.success(),
        "{}{}",
        text(&done.stdout),
        text(&done.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&done.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["committed"], true);
    assert_eq!(report["created"], 2);
    assert_eq!(member_count(&db).await, 2);

    let wrong_level = sandbox.huigong(
        &[
            "roster",
            "import",
            &good,
            "--org",
            huigong_store::migration::COUNTY_ORG_ID,
        ],
        &[],
    );
    assert!(!wrong_level.status.success());
    assert!(
        text(&wrong_level.stderr).contains("is not a"),
        "{}",
        text(&wrong_level.stderr)
    );
}

async fn member_count(db: &Database) -> u64 {
    use sea_orm::{EntityTrait, PaginatorTrait};
    huigong_store::entity::membership::Entity::find()
        .count(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

// ---- Issue 17, item 5: deploy/ agrees with the service's configuration ----------------------
// The ports, probes and HUIGONG__ keys of deploy/ (image, compose, env.example, Kubernetes) and
// of docs/operations.md are read as text and checked against `Settings`: a renamed or
// misspelt key, a port or a probe path that the service does not have, or a required
// production key missing from env.example fails here, not in production.

mod deploy_files {
    use super::repo_config;
    use huigong_server::settings::{Profile, Settings};
    use std::collections::{BTreeMap, HashMap};
    use std::path::{Path, PathBuf};

    pub fn repo() -> PathBuf {
        repo_config().join("..")
    }

    pub fn read(rel: &str) -> String {
        let path = repo().join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// deploy/ and docs/operations.md, without an installation's own filled-in files.
    pub fn all() -> Vec<(String, String)> {
        fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(Result::ok)
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = format!("{rel}/{name}");
                if matches!(name.as_str(), ".env" | "secrets" | "certs") {
                    continue;
                }
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, &rel, out);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    out.push((rel, text));
                }
            }
        }
        let mut out = Vec::new();
        walk(&repo().join("deploy"), "deploy", &mut out);
        out.push(("docs/operations.md".into(), read("docs/operations.md")));
        out
    }

    /// Every `HUIGONG__…` name in `text` (`HUIGONG__SECTION__KEY`, the pattern itself, aside).
    pub fn keys(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("HUIGONG__") {
            let tail = &rest[at + "HUIGONG__".len()..];
            let len = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            let key = format!("HUIGONG__{}", tail[..len].trim_end_matches('_'));
            if key != "HUIGONG__SECTION__KEY" && key.len() > "HUIGONG__".len() {
                found.push(key);
            }
            rest = &tail[len..];
        }
        found
    }

    /// `KEY=value` and `KEY: value` assignments at the start of a line (after `#`, `-` and
    /// blanks): `(key, value, commented)`.
    pub fn assignments(text: &str) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for line in text.lines() {
            let trimmed = line.trim_start();
            let commented = trimmed.starts_with('#');
            let body = trimmed.trim_start_matches(['#', '-', ' ']);
            let Some(name_len) = body.strip_prefix("HUIGONG__").map(|t| {
                "HUIGONG__".len()
                    + t.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                        .unwrap_or(t.len())
            }) else {
                continue;
            };
            let (key, after) = body.split_at(name_len);
            let value = match after.chars().next() {
                Some('=') => &after[1..],
                Some(':') => after[1..].trim(),
                _ => continue,
            };
            let value = value.trim_matches('"').trim_matches('\'');
            out.push((key.to_owned(), value.to_owned(), commented));
        }
        out
    }

    /// The active assignments of deploy/env.example, each empty one (a secret the operator
    /// fills in) given a well-formed value, distinct per key.
    pub fn filled_env_example() -> BTreeMap<String, String> {
        assignments(&read("deploy/env.example"))
            .into_iter()
            .filter(|(_, _, commented)| !commented)
            .map(|(key, value, _)| {
                let value = if !value.is_empty() {
                    value
                } else if key.ends_with("VAULT__KEYS") {
                    "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned()
                } else if key.ends_with("BLIND_INDEX_KEY") {
                    "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=".to_owned()
                } else if key.ends_with("WECHAT__APPID") {
                    "wx1234567890abcdef".to_owned()
                } else {
                    format!("filled-in-{}-0123456789abcdef", key.to_lowercase())
                };
                (key, value)
            })
            .collect()
    }

    pub fn load(vars: &BTreeMap<String, String>) -> anyhow::Result<Settings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .filter(|(k, _)| k.starts_with("HUIGONG__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Settings::load_with_vars(&repo_config(), Profile::Production, vars)
    }

    /// `config/default.toml`'s value of a key, as an environment variable would spell it.
    pub fn default_value(key: &str) -> Option<String> {
        let table: toml::Table = toml::from_str(&read("config/default.toml")).ok()?;
        let mut parts = key.trim_start_matches("HUIGONG__").split("__");
        let section = table.get(&parts.next()?.to_lowercase())?.as_table()?;
        let value = section.get(&parts.next()?.to_lowercase())?;
        Some(match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        })
    }

    /// The path of the first `path:` line after the line containing `probe`.
    pub fn probe_path<'a>(manifest: &'a str, probe: &str) -> Option<&'a str> {
        let mut lines = manifest.lines().skip_while(|l| !l.contains(probe)).skip(1);
        lines
            .find_map(|l| l.trim().strip_prefix("path:"))
            .map(str::trim)
    }
}

#[test]
fn deploy_every_deploy_env_key_is_a_configuration_key_of_the_service() {
    use deploy_files::*;
    let base = filled_env_example();
    assert!(
        base.contains_key("HUIGONG__DATABASE__URL"),
        "deploy/env.example has no HUIGONG__DATABASE__URL"
    );
    let mut checked = 0;
    for (file, text) in all() {
        let literal: Vec<(String, String, bool)> = if file.starts_with("docs/") {
            Vec::new()
        } else {
            assignments(&text)
        };
        for key in keys(&text) {
            let values: Vec<String> = match literal.iter().find(|(k, _, _)| *k == key) {
                Some((_, value, _)) => vec![value.clone()],
                None => base
                    .get(&key)
                    .cloned()
                    .or_else(|| default_value(&key))
                    .into_iter()
                    .collect(),
            };
            assert!(
                !values.is_empty(),
                "{file}: {key} is not a configuration key of the service (config/default.toml)"
            );
            for value in values {
                let mut vars = base.clone();
                vars.insert(key.clone(), value.clone());
                if let Err(e) = load(&vars) {
                    panic!("{file}: {key}={value:?} is refused by the service's settings: {e:#}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} keys found in deploy/");
}

#[test]
fn deploy_a_misspelt_key_in_a_deploy_file_would_be_refused() {
    // The check above relies on the settings refusing unknown keys: prove that it does, for a
    // key renamed in the code but not in deploy/.
    let mut vars = deploy_files::filled_env_example();
    vars.insert("HUIGONG__SERVER__LISTEN_PORT".into(), "8080".into());
    let err = deploy_files::load(&vars).err().map(|e| format!("{e:#}"));
    assert!(
        err.as_deref().is_some_and(|e| e.contains("listen_port")),
        "{err:?}"
    );
    assert_eq!(
        deploy_files::keys("a HUIGONG__SERVER__PORT=1 and HUIGONG__LOG__FILTER: x"),
        ["HUIGONG__SERVER__PORT", "HUIGONG__LOG__FILTER"]
    );
}

#[test]
fn deploy_env_example_with_compose_or_kubernetes_settings_starts_in_production() {
    use deploy_files::*;
    let base = filled_env_example();
    let compose = read("deploy/compose.yaml");
    let k8s_env = read("deploy/k8s/base/config.env");
    for (name, extra) in [("compose", &compose), ("kubernetes", &k8s_env)] {
        let mut vars = base.clone();
        for (key, value, commented) in assignments(extra) {
            if !commented {
                vars.insert(key, value);
            }
        }
        let settings = load(&vars).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(
            settings.check_for_production(),
            Ok(()),
            "{name}: deploy/env.example lacks a key the production profile requires"
        );
        assert_eq!(
            settings.server.host, "0.0.0.0",
            "{name}: listens on loopback only"
        );
        assert!(
            !settings.database.migrate_on_start,
            "{name}: instances must leave migrations to the one-shot migrate step"
        );
        assert!(!settings.redis.url.is_empty(), "{name}: no shared Redis");
    }
}

#[test]
fn deploy_ports_and_probes_match_the_service() {
    use deploy_files::*;
    let mut vars = filled_env_example();
    for (key, value, commented) in assignments(&read("deploy/compose.yaml"))
        .into_iter()
        .chain(assignments(&read("deploy/k8s/base/config.env")))
    {
        if !commented {
            vars.insert(key, value);
        }
    }
    let port = load(&vars).unwrap_or_else(|e| panic!("{e:#}")).server.port;

    // The routes the probes use exist.
    let doc = huigong_api::openapi::document();
    for path in ["/healthz", "/readyz"] {
        assert!(
            doc.paths.paths.contains_key(path),
            "the service has no {path}"
        );
    }

    let dockerfile = read("deploy/Dockerfile");
    assert!(
        dockerfile.contains(&format!("\nEXPOSE {port}\n")),
        "Dockerfile: EXPOSE {port}"
    );
    let healthcheck = dockerfile
        .split("HEALTHCHECK")
        .nth(1)
        .unwrap_or_else(|| panic!("Dockerfile has no HEALTHCHECK"));
    assert!(healthcheck.contains(&format!("HUIGONG__SERVER__PORT:-{port}}}")));
    assert!(
        healthcheck.contains("GET /healthz "),
        "HEALTHCHECK is not on /healthz"
    );

    let compose = read("deploy/compose.yaml");
    assert!(compose.contains(&format!("/dev/tcp/127.0.0.1/{port}\n")));
    assert!(compose.contains("GET /healthz "));
    assert!(compose.contains("command: [\"migrate\"]"));
    assert!(compose.contains("condition: service_completed_successfully"));
    let nginx = read("deploy/nginx.conf");
    for instance in ["huigong-1", "huigong-2"] {
        assert!(
            nginx.contains(&format!("server {instance}:{port} ")),
            "nginx.conf: upstream {instance}:{port}"
        );
        assert!(
            compose.contains(&format!("\n  {instance}:\n")),
            "compose: {instance}"
        );
    }

    let deployment = read("deploy/k8s/base/deployment.yaml");
    assert!(deployment.contains(&format!("containerPort: {port}\n")));
    assert_eq!(probe_path(&deployment, "readinessProbe:"), Some("/readyz"));
    assert_eq!(probe_path(&deployment, "livenessProbe:"), Some("/healthz"));
    assert_eq!(probe_path(&deployment, "startupProbe:"), Some("/healthz"));
    for probe in ["readinessProbe:", "livenessProbe:", "startupProbe:"] {
        let after = deployment
            .split(probe)
            .nth(1)
            .and_then(|t| t.lines().find(|l| l.trim().starts_with("port:")))
            .map(str::trim);
        assert_eq!(after, Some("port: http"), "{probe} on the named port");
    }
    assert!(deployment.contains("- name: http\n              containerPort"));
    let service = read("deploy/k8s/base/service.yaml");
    assert!(service.contains("targetPort: http\n"));
}

#[test]
fn deploy_metrics_port_is_scraped_inside_and_never_published() {
    use deploy_files::*;
    // The service's default: no metrics listener at all.
    let defaults = load(&filled_env_example()).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(defaults.metrics.port, None, "env.example turns metrics on");
    let dockerfile = read("deploy/Dockerfile");
    let compose = read("deploy/compose.yaml");
    let deployment = read("deploy/k8s/base/deployment.yaml");
    for (name, file) in [
        ("compose", "deploy/compose.yaml"),
        ("kubernetes", "deploy/k8s/base/config.env"),
    ] {
        let mut vars = filled_env_example();
        for (key, value, commented) in assignments(&read(file)) {
            if !commented {
                vars.insert(key, value);
            }
        }
        let settings = load(&vars).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let port = settings
            .metrics
            .port
            .unwrap_or_else(|| panic!("{name}: no HUIGONG__METRICS__PORT"));
        assert_ne!(
            port, settings.server.port,
            "{name}: metrics on the public port"
        );
        assert_eq!(
            settings.metrics.host, "0.0.0.0",
            "{name}: a scraper beside the instance cannot reach loopback"
        );
        assert!(
            dockerfile.contains(&format!("\nEXPOSE {port}\n")),
            "Dockerfile: EXPOSE {port}"
        );
        if name == "compose" {
            assert!(compose.contains(&format!("expose:\n    - \"{port}\"\n")));
            // Only the proxy publishes ports, and it never forwards to the metrics port.
            assert!(
                !compose.contains(&format!(":{port}\"")),
                "compose publishes {port}"
            );
            assert!(!read("deploy/nginx.conf").contains(&format!(":{port}")));
        } else {
            assert!(deployment.contains(&format!(
                "- name: metrics\n              containerPort: {port}\n"
            )));
            assert!(deployment.contains(&format!("prometheus.io/port: \"{port}\"\n")));
            assert!(deployment.contains("prometheus.io/scrape: \"true\"\n"));
            assert!(deployment.contains("prometheus.io/path: /metrics\n"));
            for file in [
                "deploy/k8s/base/service.yaml",
                "deploy/k8s/base/ingress.yaml",
            ] {
                let text = read(file);
                assert!(
                    !text.contains("metrics") && !text.contains(&port.to_string()),
                    "{file} reaches the metrics port"
                );
            }
        }
    }
}

#[test]
fn deploy_grafana_dashboard_queries_only_documented_metrics() {
    use deploy_files::*;
    let text = read("deploy/grafana/huigong.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("huigong.json: {e}"));
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    assert!(panels.len() >= 6, "too few panels");
    let docs = read("docs/operations.md");
    let metrics = docs
        .split("\n## Metrics\n")
        .nth(1)
        .unwrap_or_else(|| panic!("docs/operations.md has no ## Metrics section"));
    let mut seen = std::collections::BTreeSet::new();
    for panel in &panels {
        for target in panel["targets"].as_array().cloned().unwrap_or_default() {
            let expr = target["expr"].as_str().unwrap_or_default();
            let mut rest = expr;
            while let Some(at) = rest.find("huigong_") {
                let tail = &rest[at..];
                let len = tail
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .unwrap_or(tail.len());
                let name = tail[..len]
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_count");
                assert!(
                    metrics.contains(&format!("`{name}`")),
                    "dashboard queries {name}, which docs/operations.md does not describe"
                );
                seen.insert(name.to_owned());
                rest = &tail[len..];
            }
        }
    }
    for wanted in [
        "huigong_http_requests_total",
        "huigong_http_request_duration_seconds",
        "huigong_db_pool_connections",
        "huigong_outbox_pending",
        "huigong_wechat_calls_total",
    ] {
        assert!(seen.contains(wanted), "no panel shows {wanted}");
    }
}

#[test]
fn item8_the_shipped_deployments_trust_their_proxy_and_only_it() {
    use deploy_files::*;
    use huigong_api::limits::TrustedProxies;
    use std::net::IpAddr;
    const KEY: &str = "HUIGONG__SERVER__TRUSTED_PROXIES";
    fn set(text: &str) -> Option<String> {
        assignments(text)
            .into_iter()
            .find(|(k, _, commented)| k == KEY && !commented)
            .map(|(_, v, _)| v)
    }
    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} is not an address: {e}"))
    }

    // compose: the instances trust the proxy's fixed address, and nothing else of its network.
    let compose = read("deploy/compose.yaml");
    let value = set(&compose).unwrap_or_else(|| panic!("compose.yaml does not set {KEY}"));
    let trusted = TrustedProxies::parse(&value.split(',').collect::<Vec<_>>())
        .unwrap_or_else(|e| panic!("compose.yaml {KEY}: {e}"));
    let proxy = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("ipv4_address:"))
        .map(|a| ip(a.trim()))
        .unwrap_or_else(|| panic!("the proxy has no fixed address in compose.yaml"));
    assert!(
        trusted.contains(proxy),
        "compose trusts {value}, not the proxy {proxy}"
    );
    assert!(
        compose.contains("subnet:"),
        "compose.yaml's network has no fixed subnet"
    );
    let IpAddr::V4(p) = proxy else {
        panic!("the proxy's address is not IPv4")
    };
    let [a, b, c, d] = p.octets();
    let neighbour = IpAddr::from([a, b, c, d.wrapping_add(1)]);
    assert!(
        !trusted.contains(neighbour),
        "compose trusts {value}: an instance or a database on the network could forge clients"
    );

    // Kubernetes: the base names the setting (a placeholder that does not start); the
    // production overlay sets a real block.
    let base = set(&read("deploy/k8s/base/config.env"))
        .unwrap_or_else(|| panic!("deploy/k8s/base/config.env does not set {KEY}"));
    assert!(
        TrustedProxies::parse(&[base.as_str()]).is_err(),
        "the base's placeholder {base:?} must not start without the overlay's value"
    );
    let overlay = set(&read("deploy/k8s/overlays/production/kustomization.yaml"))
        .unwrap_or_else(|| panic!("the production overlay does not set {KEY}"));
    let blocks: Vec<&str> = overlay.split(',').collect();
    let parsed =
        TrustedProxies::parse(&blocks).unwrap_or_else(|e| panic!("production overlay {KEY}: {e}"));
    assert!(!parsed.is_empty());

    // The proxy hands the instances the address it saw, and the operator is told to trust it.
    let nginx = read("deploy/nginx.conf");
    assert_eq!(
        nginx.matches("proxy_pass ").count(),
        nginx
            .matches("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
            .count(),
        "every proxied location must append the client's address to X-Forwarded-For"
    );
    let example = read("deploy/env.example");
    assert!(
        !example.contains("trusts no forwarded header"),
        "env.example still tells the operator to raise the limit instead"
    );
    assert!(example.contains(KEY), "env.example does not name {KEY}");
}

#[test]
fn item14_reports_snapshot_takes_a_past_month_once_and_refuses_a_live_one() {
    let sandbox = Sandbox::new();
    let first = sandbox.huigong(&["reports", "snapshot", "--month", "2025-06"], &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("2025-06 taken"));
    // A month that already has its snapshot: exit 3, nothing changed.
    let again = sandbox.huigong(&["reports", "snapshot", "--month", "2025-06"], &[]);
    assert_eq!(again.status.code(), Some(3));
    // The current month (Beijing time) is live, not snapshotted; a malformed month is refused.
    let current = huigong_core::period::Month::of(chrono::Utc::now()).to_string();
    let live = sandbox.huigong(&["reports", "snapshot", "--month", &current], &[]);
    assert_eq!(live.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&live.stderr).contains("has not ended"));
    let bad = sandbox.huigong(&["reports", "snapshot", "--month", "2025-13"], &[]);
    assert_eq!(bad.status.code(), Some(1));
}

/// `huigong serve --demo` on this sandbox's database, port 0: the child and its stdout up to the
/// banner's "listening on" line.
fn serve_demo(sandbox: &Sandbox) -> (std::process::Child, Vec<String>) {
    use std::io::BufRead as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_huigong"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HUIGONG") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(["serve", "--demo"])
        .env("HUIGONG_CONFIG_DIR", repo_config())
        .env("HUIGONG_PROFILE", "development")
        .env("HUIGONG__DATABASE__URL", sandbox.db_url())
        .env("HUIGONG__SERVER__PORT", "0")
        .env("HUIGONG__LOG__FILTER", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("running huigong: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = Vec::new();
    let mut reader = std::io::BufReader::new(stdout).lines();
    for line in reader.by_ref() {
        let line = line.unwrap_or_default();
        let done = line.contains("listening on");
        lines.push(line);
        if done {
            break;
        }
    }
    // Keep draining: a closed pipe would fail the service's next print.
    std::thread::spawn(move || reader.for_each(drop));
    (child, lines)
}

#[tokio::test]
async fn demo_serve_prints_a_county_sign_in_that_works_and_refuses_a_second_time() {
    huigong_wechat::install_crypto_provider();
    let sandbox = Sandbox::new();
    let (mut child, lines) = serve_demo(&sandbox);
    let text_out = lines.join("\n");
    let base = lines
        .iter()
        .find_map(|l| l.split("listening on ").nth(1))
        .unwrap_or_else(|| panic!("no banner: {text_out}"))
        .trim()
        .to_owned();
    let sign_in = |role: &str| -> (String, String) {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("demo sign-in {role} ")))
            .unwrap_or_else(|| panic!("no {role} sign-in: {text_out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |w: &str| {
            words
                .iter()
                .position(|x| *x == w)
                .and_then(|i| words.get(i + 1))
                .map(|s| (*s).to_owned())
                .unwrap_or_default()
        };
        (after("username"), after("password"))
    };
    for role in ["district_admin", "grassroots_admin", "merchant_staff"] {
        assert!(!sign_in(role).1.is_empty(), "{role}: {text_out}");
    }
    assert!(text_out.contains("openid demo-worker"), "{text_out}");
    // The normal banner's hint is not repeated once the demo is there.
    assert!(!text_out.contains("`huigong serve --demo`"), "{text_out}");

    let (username, password) = sign_in("county_admin");
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/password/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = login["token"].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty(), "{login}");
    let unions: serde_json::Value = http
        .get(format!("{base}/api/v1/admin/orgs?level=grassroots"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unions["total"], 12, "{unions}");

    // The same database a second time: refused, with a reason and a non-zero exit.
    let again = sandbox.huigong(&["serve", "--demo"], &[("HUIGONG__SERVER__PORT", "0")]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stdout));
    let err = text(&again.stderr);
    assert!(err.contains("already holds data"), "{err}");
}

#[test]
fn demo_is_refused_in_production() {
    let sandbox = Sandbox::new();
    let out = sandbox.huigong(
        &["serve", "--demo"],
        &[
            ("HUIGONG_PROFILE", "production"),
            ("HUIGONG__SERVER__PORT", "0"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("refusing --demo"), "{err}");
    assert!(err.contains("production"), "{err}");
    // Nothing was created: no database file.
    assert!(!sandbox.dir.join("huigong.sqlite").exists());
}

#[test]
fn banner_says_how_to_get_a_demo() {
    let sandbox = Sandbox::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_huigong"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HUIGONG") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(["serve"])
        .env("HUIGONG_CONFIG_DIR", repo_config())
        .env("HUIGONG_PROFILE", "development")
        .env("HUIGONG__DATABASE__URL", sandbox.db_url())
        .env("HUIGONG__SERVER__PORT", "0")
        .env("HUIGONG__LOG__FILTER", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("running huigong: {e}"));
    use std::io::BufRead as _;
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut hint = None;
    for line in std::io::BufReader::new(stdout).lines().take(12) {
        let line = line.unwrap_or_default();
        if line.contains("huigong serve --demo") {
            hint = Some(line);
            break;
        }
        // The banner's last part: the hint comes before it.
        if line.contains("log a test worker in") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(hint.is_some(), "no demo line in the banner");
}
