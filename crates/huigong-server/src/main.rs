//! `huigong`: the Huigong service and its operations commands.

use anyhow::Context as _;
use base64::Engine as _;
use clap::{Parser, Subcommand};
use huigong_server::settings::{LogFormat, Profile, WechatMode};
use huigong_server::{Application, Settings, backup, keys, startup, telemetry};
use huigong_store::{audit, rotation};
use huigong_vault::{KeyMaterial, KeyRing};
use rand::RngCore as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "huigong",
    version,
    about = "惠工卡 — county trade-union membership service"
)]
struct Cli {
    /// Configuration profile: development, test or production.
    #[arg(
        long,
        global = true,
        env = "HUIGONG_PROFILE",
        default_value = "development"
    )]
    profile: String,
    /// Directory holding default.toml and <profile>.toml.
    #[arg(
        long,
        global = true,
        env = "HUIGONG_CONFIG_DIR",
        default_value = "config"
    )]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve {
        /// First fill an empty database with a demo county (districts, unions, members,
        /// applications, merchants) and print a sign-in for each role. Refused in production
        /// and on a database that holds data.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Key management for personal data.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Administrator accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The member roster (花名册, appendix 3).
    #[command(subcommand)]
    Roster(ImportCommand),
    /// The organisation table (appendix 1): grassroots unions of a district union.
    #[command(subcommand)]
    Orgs(ImportCommand),
    /// The federation's reports.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// Back the database up into a new directory while the service keeps serving: a consistent
    /// dump (SQLite: VACUUM INTO; PostgreSQL: pg_dump in one snapshot) and manifest.json (version,
    /// migration level, key fingerprints, rows per table, the dump's SHA-256). Never the keys:
    /// back those up separately (docs/operations.md).
    Backup {
        /// The directory to write (new or empty).
        #[arg(long)]
        to: PathBuf,
        /// Directory of pg_dump/pg_restore (default: PATH, then /usr/lib/postgresql/*/bin).
        #[arg(long, env = "HUIGONG_PG_BIN")]
        pg_bin: Option<PathBuf>,
    },
    /// Restore a backup into the configured database, which must be empty. Checks the manifest,
    /// the dump's hash and the configured keys' fingerprints before writing anything; then the
    /// row counts and the audit chain. Stop the instances first.
    Restore {
        /// The backup directory (holding manifest.json).
        #[arg(long)]
        from: PathBuf,
        /// Directory of pg_dump/pg_restore (default: PATH, then /usr/lib/postgresql/*/bin).
        #[arg(long, env = "HUIGONG_PG_BIN")]
        pg_bin: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Take the progress snapshot (进度通报) of a month that has ended, by hand: the service
    /// takes it itself at the first minute of each month (Beijing time) and at start if missed.
    /// Exits 0 if taken, 3 if the month already has one.
    Snapshot {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Check a workbook and, with --commit, write it in one transaction (nothing is written if
    /// any row has an error). Prints the report; exits 1 if it lists errors.
    Import {
        /// The .xlsx file.
        file: PathBuf,
        /// The grassroots union (roster) or district union (orgs) to import into.
        #[arg(long)]
        org: uuid::Uuid,
        /// Write; without it, a dry run.
        #[arg(long)]
        commit: bool,
        /// Print the report as JSON (the HTTP API's shape).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator account (the first county admin, typically). The password is
    /// read from standard input, never from the command line.
    Create {
        #[arg(long)]
        username: String,
        /// county_admin, district_admin or grassroots_admin.
        #[arg(long, default_value = "county_admin")]
        role: String,
        /// The org the account belongs to; defaults to the county federation.
        #[arg(long)]
        org: Option<uuid::Uuid>,
        /// Read the password from standard input (required).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a fresh set of secrets as environment variables (nothing is stored).
    Generate,
    /// Re-encrypt every stored personal value that is not sealed with the active key, in
    /// batches, while the service keeps serving. Safe to interrupt and run again.
    ///
    /// In production, first add the new key to HUIGONG__VAULT__KEYS (with a higher id, or set
    /// HUIGONG__VAULT__ACTIVE_KEY_ID) and restart the instances so every one can read it.
    Rotate {
        /// Development keys only: add a new key to the development key file and make it active.
        #[arg(long)]
        new_key: bool,
        /// Values per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u64,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the keyed hash chain (with the vault's keys); exits non-zero and names the first
    /// bad event (sequence number, id, why) if there is one.
    Verify,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("huigong: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve { demo: false });
    if let Command::Keys(KeysCommand::Generate) = command {
        print_fresh_secrets();
        return Ok(ExitCode::SUCCESS);
    }
    let profile = Profile::parse(&cli.profile)?;
    let settings = Settings::load(&cli.config_dir, profile)
        .with_context(|| format!("loading configuration from {}", cli.config_dir.display()))?;
    if matches!(command, Command::Serve { demo: true })
        && (profile == Profile::Production || settings.profile == Profile::Production)
    {
        eprintln!(
            "huigong: refusing --demo: the production profile never gets demo data (use HUIGONG_PROFILE=development)"
        );
        return Ok(ExitCode::from(2));
    }
    if let Err(reason) = settings.check_for_production() {
        eprintln!("huigong: refusing to start: {reason}");
        return Ok(ExitCode::from(2));
    }
    telemetry::init(&settings.log, std::io::stdout);
    huigong_wechat::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Serve { demo } => serve(settings, demo).await,
            Command::Migrate => {
                let db = startup::connect_database(&settings).await?;
                db.migrate().await?;
                println!("migrations applied");
                Ok(ExitCode::SUCCESS)
            }
            Command::Keys(KeysCommand::Rotate {
                new_key,
                batch_size,
            }) => rotate(settings, new_key, batch_size).await,
            Command::Keys(KeysCommand::Generate) => Ok(ExitCode::SUCCESS),
            Command::Audit(AuditCommand::Verify) => verify(settings).await,
            Command::Admin(AdminCommand::Create {
                username,
                role,
                org,
                password_stdin,
            }) => create_admin(settings, &username, &role, org, password_stdin).await,
            Command::Roster(ImportCommand::Import {
                file,
                org,
                commit,
                json,
            }) => import(settings, Table::Roster, &file, org, commit, json).await,
            Command::Orgs(ImportCommand::Import {
                file,
                org,
                commit,
                json,
            }) => import(settings, Table::Orgs, &file, org, commit, json).await,
            Command::Reports(ReportsCommand::Snapshot { month }) => {
                snapshot(settings, &month).await
            }
            Command::Backup { to, pg_bin } => {
                let m = backup::backup(&settings, &to, pg_bin.as_deref()).await?;
                let rows: u64 = m.tables.values().sum();
                println!(
                    "backup written to {}: {} ({} bytes, sha256 {}), {} tables, {rows} rows, migration {}, {} key fingerprints",
                    to.display(),
                    m.dump.file,
                    m.dump.bytes,
                    m.dump.sha256,
                    m.tables.len(),
                    m.migration.last.as_deref().unwrap_or("none"),
                    m.keys.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::Restore { from, pg_bin } => {
                let r = backup::restore(&settings, &from, pg_bin.as_deref()).await?;
                let rows: u64 = r.manifest.tables.values().sum();
                println!(
                    "restored {} (taken {}): {} tables, {rows} rows, counts equal the manifest; audit log intact: {} events",
                    from.display(),
                    r.manifest.created_at,
                    r.manifest.tables.len(),
                    r.audit_events
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

fn print_fresh_secrets() {
    let material = KeyMaterial::generate();
    let mut jwt = [0u8; 48];
    rand::rng().fill_bytes(&mut jwt);
    println!(
        "# Fresh Huigong secrets. Store them in your secret manager, never in the repository."
    );
    println!("HUIGONG__VAULT__KEYS={}", material.keys_text().as_str());
    println!(
        "HUIGONG__VAULT__BLIND_INDEX_KEY={}",
        material.blind_index.to_base64().as_str()
    );
    println!(
        "HUIGONG__AUTH__JWT_SECRET={}",
        base64::engine::general_purpose::STANDARD.encode(jwt)
    );
    let mut qr = [0u8; 48];
    rand::rng().fill_bytes(&mut qr);
    println!(
        "HUIGONG__CARD__QR_KEY={}",
        base64::engine::general_purpose::STANDARD.encode(qr)
    );
}

async fn rotate(settings: Settings, new_key: bool, batch_size: u64) -> anyhow::Result<ExitCode> {
    let mut material = keys::load_material(&settings)?;
    if new_key {
        anyhow::ensure!(
            settings.vault.keys.is_empty(),
            "--new-key only changes development keys; in production add the key to HUIGONG__VAULT__KEYS, restart the instances, then run `huigong keys rotate`"
        );
        let id = material.add_new_active_key();
        keys::write_dev_file(&keys::dev_key_file(&settings), &material)?;
        println!("development key {id} added and active");
    }
    let vault = KeyRing::new(&material);
    let db = startup::connect_database(&settings)
        .await?
        .with_chain_keys(vault.chain_keys().clone());
    // Every key must be the database's; a new one's fingerprint is recorded here (and only
    // here: an instance never records a key).
    keys::prove_and_record(&db, &vault).await?;
    println!(
        "re-encrypting personal data with key {}",
        vault.active_key_id()
    );
    let report = rotation::rotate(&db, &vault, batch_size, |p| {
        println!(
            "  {}.{}: {} scanned, {} re-encrypted",
            p.table, p.column, p.scanned, p.resealed
        );
    })
    .await?;
    seal_own_events(&db, &settings).await;
    let skipped: u64 = report.iter().map(|p| p.skipped).sum();
    let resealed: u64 = report.iter().map(|p| p.resealed).sum();
    println!("done: {resealed} values re-encrypted");
    if skipped > 0 {
        println!("{skipped} values changed while rotating: run `huigong keys rotate` again");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

async fn create_admin(
    settings: Settings,
    username: &str,
    role: &str,
    org: Option<uuid::Uuid>,
    password_stdin: bool,
) -> anyhow::Result<ExitCode> {
    use huigong_core::Role;
    anyhow::ensure!(
        password_stdin,
        "pass --password-stdin and the password on standard input"
    );
    let role: Role = role.parse()?;
    anyhow::ensure!(
        matches!(
            role,
            Role::CountyAdmin | Role::DistrictAdmin | Role::GrassrootsAdmin
        ),
        "role must be county_admin, district_admin or grassroots_admin"
    );
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if huigong_api::password::check_policy(&password).is_err() {
        anyhow::bail!(
            "the password needs 10–128 characters with three of: lower case, upper case, digits, symbols"
        );
    }
    let vault = keys::load_key_ring(&settings)?;
    let db = startup::connect_database(&settings)
        .await?
        .with_chain_keys(vault.chain_keys().clone());
    if settings.database.migrate_on_start {
        db.migrate().await?;
    }
    keys::prove(&db, &vault).await?;
    let org = match org {
        Some(id) => id,
        None => uuid::Uuid::parse_str(huigong_store::migration::COUNTY_ORG_ID)?,
    };
    let path = huigong_store::orgs::path_of(&db.conn, org)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no org {org}"))?;
    let depth = path.matches('/').count() - 1;
    let expected = match role {
        Role::CountyAdmin => 1,
        Role::DistrictAdmin => 2,
        _ => 3,
    };
    anyhow::ensure!(depth == expected, "the role does not match the org's level");
    let hash = huigong_api::password::hash_blocking(&password).map_err(|e| anyhow::anyhow!(e))?;
    let now = chrono::Utc::now();
    let txn = db.begin_write().await?;
    let user = huigong_store::users::create_account(
        &txn,
        huigong_store::users::NewAccount {
            role,
            username: Some(username),
            password_hash: Some(hash),
            org_id: Some(org),
        },
        now,
    )
    .await
    .map_err(|e| match e {
        huigong_store::StoreError::Conflict => anyhow::anyhow!("username {username:?} is taken"),
        other => other.into(),
    })?;
    audit::record(
        &txn,
        &audit::Actor::system(),
        &audit::Entry {
            action: "account.create",
            target_type: "user",
            target_id: Some(user.id.to_string()),
            fields: &[],
            outcome: audit::Outcome::Success,
        },
        now,
    )
    .await?;
    txn.commit().await?;
    seal_own_events(&db, &settings).await;
    println!("created {} {username} ({})", role.as_str(), user.id);
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    Roster,
    Orgs,
}

async fn import(
    settings: Settings,
    table: Table,
    file: &std::path::Path,
    org: uuid::Uuid,
    commit: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use huigong_api::imports::{self, ImportContext, ImportFailure, Imported};
    use huigong_core::labels::OrgLevel;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let vault = KeyRing::new(&keys::load_material(&settings)?);
    let db = startup::connect_database(&settings)
        .await?
        .with_chain_keys(vault.chain_keys().clone());
    if settings.database.migrate_on_start {
        db.migrate().await?;
    }
    keys::prove(&db, &vault).await?;
    let target = huigong_store::orgs::get_in_scope(&db.conn, &vault, org, "")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no org {org}"))?;
    let expected = match table {
        Table::Roster => OrgLevel::Grassroots,
        Table::Orgs => OrgLevel::District,
    };
    anyhow::ensure!(
        target.level == expected,
        "org {org} is not a {} union",
        expected.label_zh()
    );
    let actor = audit::Actor::system();
    // A commit can change what holders' cards show: invalidate their cached views in the shared
    // session backend (Redis). Without Redis the views live in the serving process, which this
    // one cannot reach: they catch up within card.view_cache_ttl_secs.
    let store = match startup::session_store(&settings).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!(
                "warning: {e:#}; cached card views will catch up within card.view_cache_ttl_secs"
            );
            std::sync::Arc::new(huigong_store::MemoryStore::new())
        }
    };
    let views = huigong_store::card_views::CardViews::new(
        store,
        std::time::Duration::from_secs(settings.card.view_cache_ttl_secs),
    );
    let cx = ImportContext {
        db: &db,
        vault: &vault,
        views: &views,
        actor: &actor,
        now: chrono::Utc::now(),
        commit,
        // An operator's import on the host is not limited.
        budget: None,
    };
    let result = match table {
        Table::Roster => imports::roster(cx, &target, bytes).await,
        Table::Orgs => imports::orgs(cx, &target, bytes).await,
    };
    let (report, refused) = match result {
        Ok(Imported::Done(report)) => (report, false),
        Ok(Imported::Refused(report)) => (report, true),
        Ok(Imported::Unavailable) => anyhow::bail!(
            "refused, nothing written: some ID numbers are active members of other unions under other names"
        ),
        Err(ImportFailure::Workbook(e)) => anyhow::bail!("{}: {}", file.display(), e.message_zh()),
        Err(ImportFailure::Conflict) => anyhow::bail!(
            "a concurrent import registered some of the same records; nothing was written, run it again"
        ),
        Err(ImportFailure::Store(e)) => return Err(e.into()),
        Err(ImportFailure::Internal(e)) => anyhow::bail!(e),
        Err(ImportFailure::Refused(e)) => anyhow::bail!("{}", e.body.message),
    };
    seal_own_events(&db, &settings).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: {} rows, {} valid, {} errors",
            file.display(),
            report.rows,
            report.valid,
            report.errors.len() + report.omitted_errors as usize
        );
        for e in &report.errors {
            println!("  第 {} 行 {}: {} [{}]", e.row, e.column, e.message, e.code);
        }
        if report.omitted_errors > 0 {
            println!("  … and {} more errors", report.omitted_errors);
        }
        if report.committed {
            println!(
                "committed: {} created, {} updated, {} unchanged",
                report.created.unwrap_or(0),
                report.updated.unwrap_or(0),
                report.unchanged.unwrap_or(0)
            );
        } else if refused {
            println!("nothing written: fix the errors and import again");
        } else {
            println!("dry run: nothing written (add --commit to write)");
        }
    }
    let clean = report.errors.is_empty() && report.omitted_errors == 0;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn snapshot(settings: Settings, month: &str) -> anyhow::Result<ExitCode> {
    use huigong_store::reports::{ReportError, SnapshotOutcome, take_snapshot};
    let month = huigong_core::period::Month::parse(month)
        .ok_or_else(|| anyhow::anyhow!("--month must be YYYY-MM, for example 2026-11"))?;
    let db = startup::connect_database(&settings).await?;
    if settings.database.migrate_on_start {
        db.migrate().await?;
    }
    // The lock lives in the shared store; without it the month's primary key still admits one.
    let store = match startup::session_store(&settings).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("warning: {e:#}; relying on the database alone");
            std::sync::Arc::new(huigong_store::MemoryStore::new())
        }
    };
    let outcome = take_snapshot(
        &db,
        store.as_ref(),
        month,
        chrono::Utc::now(),
        settings.reports.pending_overdue_days,
        "cli",
    )
    .await;
    match outcome {
        Ok(SnapshotOutcome::Taken) => {
            println!("progress snapshot of {month} taken");
            Ok(ExitCode::SUCCESS)
        }
        Ok(SnapshotOutcome::AlreadyTaken) => {
            println!("{month} already has a progress snapshot (or another instance is taking it)");
            Ok(ExitCode::from(3))
        }
        Err(ReportError::FutureMonth) => {
            anyhow::bail!("{month} has not ended yet (Beijing time): its figures are live")
        }
        Err(e) => Err(anyhow::anyhow!(e)),
    }
}

/// Links the audit events this command wrote into the chain before it exits (a running
/// service's sealer would, within a second; without one they would wait). A hole another
/// writer may still fill is left to the service's sealer.
async fn seal_own_events(db: &huigong_store::Database, settings: &Settings) {
    let s = settings.audit.sealer();
    let sealed =
        match huigong_store::audit_sealer::Sealer::start(db.clone(), s.grace, s.batch).await {
            Ok(mut sealer) => sealer.seal_all().await,
            Err(e) => Err(e),
        };
    if let Err(e) = sealed {
        eprintln!("warning: audit events not sealed yet ({e}); a running service seals them");
    }
}

async fn verify(settings: Settings) -> anyhow::Result<ExitCode> {
    // The chain is keyed with keys derived from the vault's: verifying needs them.
    let vault = keys::load_key_ring(&settings)?;
    let db = startup::connect_database(&settings)
        .await?
        .with_chain_keys(vault.chain_keys().clone());
    let result = audit::verify(&db).await?;
    let alarm = chrono::Duration::seconds(
        i64::try_from(settings.audit.unsealed_alarm_secs).unwrap_or(i64::MAX / 1000),
    );
    let now = chrono::Utc::now();
    let waiting = match result.oldest_unsealed {
        Some(oldest) => format!(
            "{} recent events not sealed yet (the oldest {} s old)",
            result.unsealed,
            (now - oldest).num_seconds().max(0)
        ),
        None => "no events waiting to be sealed".to_owned(),
    };
    match result.broken {
        None if result.seal_overdue(now, alarm) => {
            println!(
                "audit log intact: {} events sealed; {waiting}: OVERDUE (more than {} s): is the sealer running?",
                result.checked, settings.audit.unsealed_alarm_secs
            );
            Ok(ExitCode::FAILURE)
        }
        None => {
            println!(
                "audit log intact: {} events sealed; {waiting}",
                result.checked
            );
            Ok(ExitCode::SUCCESS)
        }
        Some((seq, why)) => {
            println!(
                "audit log BROKEN at event {seq}: {why} ({} events before it are intact)",
                result.checked
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<ExitCode> {
    let mock = settings.wechat.mode == WechatMode::Mock;
    let pretty = settings.log.format == LogFormat::Pretty;
    let app = Application::build(settings).await?;
    let base = app.base_url();
    if demo {
        match huigong_server::demo::fill(app.state()).await {
            Ok(filled) => print!("{}", huigong_server::demo::summary(&filled, &base)),
            Err(e) => {
                eprintln!("huigong: refusing --demo: {e:#}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    tracing::info!(address = %base, "huigong listening");
    if pretty {
        println!("惠工卡 service listening on {base}");
        println!(
            "  console:       {base}/console/   (sign in with an account from `huigong admin create`)"
        );
        println!("  API docs:      {base}/api/docs   (OpenAPI: {base}/api/openapi.json)");
        println!("  health:        {base}/healthz   {base}/readyz");
        if !demo {
            println!("  a demo county: `huigong serve --demo` on an empty database");
        }
        if mock {
            println!("  log a test worker in (WeChat mock):");
            println!(
                "    curl -s -XPOST {base}/wechat-mock/wx/login | curl -s {base}/api/v1/auth/wechat/login -H 'content-type: application/json' -d @-"
            );
        }
    }
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
