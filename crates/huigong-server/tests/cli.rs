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

    async fn database(&self) -> Database {
        let db = Database::connect(&DatabaseOptions {
            url: self.db_url(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(3),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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

async fn write_events(db: &Database, n: usize) {
    for i in 0..n {
        let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
        let entry = Entry {
            action: "cli.test",
            target_type: "test",
            target_id: Some(i.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        };
        audit::record(&txn, &Actor::system(), &entry, chrono::Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
    }
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
