//! `huigong backup --to DIR` and `huigong restore --from DIR`.
//!
//! A backup directory holds the dump (`huigong.sqlite`, a consistent copy by `VACUUM INTO`, or
//! `huigong.dump`, `pg_dump --format=custom` in an exported snapshot) and `manifest.json`,
//! written last: the version, the migration level, the vault key fingerprints the database
//! recorded (never a key), the row count of every table as of the dump, and the dump's SHA-256.
//!
//! A restore checks everything it can before it writes anything: the manifest, the dump's hash,
//! that this binary knows the dump's migrations, that the configured keys are the ones the data
//! was written with (by fingerprint), and that the target database is empty. Then it restores
//! (`pg_restore --single-transaction`, or the copy put in place by a rename), and checks the
//! row counts against the manifest and the audit chain with the keys.
//!
//! No key and no personal data is ever printed or written to the manifest.

use crate::keys;
use crate::settings::Settings;
use anyhow::Context as _;
use huigong_store::backup::{self as store_backup, Counts};
use huigong_store::db::DatabaseOptions;
use huigong_store::{Backend, Database, audit};
use huigong_vault::KeyRing;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The manifest's format name.
pub const FORMAT: &str = "huigong-backup/1";
const MANIFEST: &str = "manifest.json";
const SQLITE_DUMP: &str = "huigong.sqlite";
const PG_DUMP: &str = "huigong.dump";

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub huigong_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// `sqlite` or `postgres`: a dump restores into the same kind of database.
    pub backend: String,
    pub dump: DumpFile,
    pub migration: Migration,
    /// The vault keys the database recorded, by name, with their fingerprints (hex).
    pub keys: Vec<KeyFingerprint>,
    /// Rows per table as of the dump.
    pub tables: Counts,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DumpFile {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    pub applied: u64,
    pub last: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyFingerprint {
    pub name: String,
    pub fingerprint: String,
}

/// What a restore found after restoring.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    pub audit_events: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

fn sha256_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

/// A PostgreSQL program: from `pg_bin` when given, else from `PATH`, else from the newest
/// `/usr/lib/postgresql/*/bin` (Debian's layout).
pub fn pg_tool(name: &str, pg_bin: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = pg_bin {
        let path = dir.join(name);
        anyhow::ensure!(
            path.is_file(),
            "{name} is not in {} (--pg-bin / HUIGONG_PG_BIN)",
            dir.display()
        );
        return Ok(path);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let path = dir.join(name);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let path = e.path().join("bin").join(name);
            path.is_file().then_some((v, path))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).ok_or_else(|| {
        anyhow::anyhow!(
            "{name} not found: install the PostgreSQL client programs of the server's major version or newer (Debian: postgresql-client), or name their directory with --pg-bin (HUIGONG_PG_BIN)"
        )
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The PostgreSQL URL without its password, and the password (for `PGPASSWORD`): a password on
/// a command line is visible to every user of the host.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return (url.to_owned(), None);
    };
    (
        format!("{scheme}://{user}@{host}{tail}"),
        Some(percent_decode(password)),
    )
}

fn pg_command(program: &Path, url: &str) -> Command {
    let (url, password) = split_password(url);
    let mut cmd = Command::new(program);
    cmd.arg(format!("--dbname={url}"));
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// The SQLite file a `sqlite:` URL names.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or_default())
        .filter(|p| !p.is_empty() && !p.contains(":memory:"))
        .ok_or_else(|| anyhow::anyhow!("database.url names no SQLite file"))?;
    Ok(PathBuf::from(path))
}

fn sqlite_url(path: &Path, mode: &str) -> String {
    format!("sqlite://{}?mode={mode}", path.display())
}

async fn connect(url: &str) -> anyhow::Result<Database> {
    Database::connect(&DatabaseOptions {
        url: url.to_owned(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
    })
    .await
    .map_err(anyhow::Error::from)
}

fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: give a new directory for each backup",
            dir.display()
        );
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Owner-only permissions for a file the backup or restore wrote (the dump, the manifest, the
/// restored database): copied off with `cp -p`, `rsync -a` or `tar` they keep them.
fn owner_only(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the permissions of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Takes a backup of the configured database into `dir` (new or empty) while the service keeps
/// serving. PostgreSQL needs `pg_dump` (see [`pg_tool`]).
pub async fn backup(
    settings: &Settings,
    dir: &Path,
    pg_bin: Option<&Path>,
) -> anyhow::Result<Manifest> {
    let url = settings.database.url.expose();
    let db = connect(url).await?;
    // Found before anything is written.
    let pg_dump = match db.backend {
        Backend::Postgres => Some(pg_tool("pg_dump", pg_bin)?),
        Backend::Sqlite => None,
    };
    prepare_dir(dir)?;
    let (file, description) = match db.backend {
        Backend::Sqlite => {
            let copy = dir.join(SQLITE_DUMP);
            let copy_text = copy
                .to_str()
                .ok_or_else(|| anyhow::anyhow!("the backup directory's path is not UTF-8"))?;
            store_backup::sqlite_copy(&db, copy_text)
                .await
                .context("VACUUM INTO")?;
            owner_only(&copy)?;
            // Nobody writes to the copy: its figures are the dump's.
            let copied = connect(&sqlite_url(&copy, "rw")).await?;
            let description = store_backup::describe(&copied.conn).await?;
            copied.conn.close().await?;
            (SQLITE_DUMP, description)
        }
        Backend::Postgres => {
            let program = pg_dump.unwrap_or_default();
            let (txn, snapshot) = store_backup::begin_snapshot(&db).await?;
            let out = dir.join(PG_DUMP);
            let child = pg_command(&program, url)
                .args(["--format=custom", "--no-owner", "--no-privileges"])
                .arg(format!("--snapshot={snapshot}"))
                .arg("--file")
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("starting {}", program.display()))?;
            // Counted in the snapshot pg_dump dumps, while it runs.
            let described = store_backup::describe(&txn).await;
            let output = tokio::task::spawn_blocking(move || child.wait_with_output())
                .await?
                .context("waiting for pg_dump")?;
            // The snapshot must stay open until pg_dump has finished.
            txn.commit().await?;
            anyhow::ensure!(
                output.status.success(),
                "pg_dump failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            owner_only(&out)?;
            (PG_DUMP, described?)
        }
    };
    db.conn.close().await?;
    let (sha256, bytes) = sha256_file(&dir.join(file))?;
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        huigong_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: chrono::Utc::now(),
        backend: backend_name(db.backend).to_owned(),
        dump: DumpFile {
            file: file.to_owned(),
            bytes,
            sha256,
        },
        migration: Migration {
            applied: description.migration.applied,
            last: description.migration.last,
        },
        keys: description
            .fingerprints
            .iter()
            .map(|(name, fp)| KeyFingerprint {
                name: name.clone(),
                fingerprint: hex(fp),
            })
            .collect(),
        tables: description.counts,
    };
    let tmp = dir.join("manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
    owner_only(&tmp)?;
    std::fs::rename(&tmp, dir.join(MANIFEST))?;
    Ok(manifest)
}

/// Reads and checks `dir/manifest.json` and the dump's hash.
pub fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (a backup is complete only with its manifest)",
            path.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is malformed", path.display()))?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "{}: format {:?}, this version reads {FORMAT:?}",
        path.display(),
        manifest.format
    );
    anyhow::ensure!(
        [SQLITE_DUMP, PG_DUMP].contains(&manifest.dump.file.as_str()),
        "{}: unexpected dump file {:?}",
        path.display(),
        manifest.dump.file
    );
    let (sha256, bytes) = sha256_file(&dir.join(&manifest.dump.file))?;
    anyhow::ensure!(
        sha256 == manifest.dump.sha256 && bytes == manifest.dump.bytes,
        "{} does not match its manifest (SHA-256 or size differ): the dump is damaged or was changed",
        manifest.dump.file
    );
    Ok(manifest)
}

/// Compares the manifest's key fingerprints with the configured ring's: every key the data was
/// written with must be configured, with the same fingerprint. Returns the configured keys the
/// backup does not know (a warning: instances refuse them until `huigong keys rotate`).
pub fn check_keys(manifest: &Manifest, ring: &KeyRing) -> anyhow::Result<Vec<String>> {
    for key in &manifest.keys {
        let Some((name, fp)) = ring
            .fingerprints()
            .iter()
            .find(|(n, _)| n.as_stored() == key.name)
        else {
            anyhow::bail!(
                "the backup was written with {} (fingerprint {}), which is not configured: configure the keys in force when it was taken (HUIGONG__VAULT__KEYS, HUIGONG__VAULT__BLIND_INDEX_KEY); nothing was restored",
                key.name,
                short(&key.fingerprint)
            );
        };
        anyhow::ensure!(
            hex(fp) == key.fingerprint,
            "the configured {name} is not the key the backup was written with (fingerprint {} here, {} in the manifest): nothing was restored",
            short(&hex(fp)),
            short(&key.fingerprint)
        );
    }
    Ok(ring
        .fingerprints()
        .iter()
        .map(|(n, _)| n.as_stored())
        .filter(|n| !manifest.keys.iter().any(|k| k.name == *n))
        .collect())
}

fn short(fp: &str) -> &str {
    fp.get(..16).unwrap_or(fp)
}

/// The vault keys for a restore: configured, or an existing development key file (a restore
/// never generates keys: fresh keys could not open the backup).
fn restore_ring(settings: &Settings) -> anyhow::Result<KeyRing> {
    if settings.vault.keys.is_empty() {
        let path = keys::dev_key_file(settings);
        anyhow::ensure!(
            path.exists(),
            "no vault keys configured (HUIGONG__VAULT__KEYS) and no development key file at {}: configure the keys the backup was written with",
            path.display()
        );
    }
    keys::load_key_ring(settings)
}

/// Restores the backup in `dir` into the configured database, which must be empty. Checks the
/// manifest, the dump's hash, the migration level and the keys before it writes anything.
pub async fn restore(
    settings: &Settings,
    dir: &Path,
    pg_bin: Option<&Path>,
) -> anyhow::Result<Restored> {
    let manifest = read_manifest(dir)?;
    if let Some(last) = &manifest.migration.last {
        anyhow::ensure!(
            store_backup::known_migrations().contains(last),
            "the backup's schema is at migration {last}, which this huigong ({}) does not know: restore it with huigong {} or newer",
            env!("CARGO_PKG_VERSION"),
            manifest.huigong_version
        );
    }
    let ring = restore_ring(settings)?;
    let unknown_here = check_keys(&manifest, &ring)?;
    let url = settings.database.url.expose().to_owned();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    anyhow::ensure!(
        manifest.backend == backend_name(backend),
        "the backup is of a {} database and database.url names a {} one",
        manifest.backend,
        backend_name(backend)
    );
    let dump = dir.join(&manifest.dump.file);
    match backend {
        Backend::Sqlite => {
            let path = sqlite_path(&url)?;
            if path.exists() {
                let existing = connect(&sqlite_url(&path, "rw")).await?;
                let tables = store_backup::tables(&existing.conn).await?;
                existing.conn.close().await?;
                anyhow::ensure!(
                    tables.is_empty(),
                    "{} is not empty ({} tables): restore into a new or empty database; nothing was restored",
                    path.display(),
                    tables.len()
                );
                for suffix in ["", "-wal", "-shm"] {
                    let p = PathBuf::from(format!("{}{suffix}", path.display()));
                    if p.exists() {
                        std::fs::remove_file(&p)
                            .with_context(|| format!("removing {}", p.display()))?;
                    }
                }
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = PathBuf::from(format!("{}.restoring", path.display()));
            std::fs::copy(&dump, &tmp).with_context(|| format!("copying to {}", tmp.display()))?;
            owner_only(&tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
        }
        Backend::Postgres => {
            let pg_restore = pg_tool("pg_restore", pg_bin)?;
            let target = connect(&url).await?;
            let tables = store_backup::tables(&target.conn).await?;
            target.conn.close().await?;
            anyhow::ensure!(
                tables.is_empty(),
                "the target database is not empty ({} tables): restore into a new, empty database; nothing was restored",
                tables.len()
            );
            let output = pg_command(&pg_restore, &url)
                .args([
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                ])
                .arg(&dump)
                .output()
                .with_context(|| format!("starting {}", pg_restore.display()))?;
            anyhow::ensure!(
                output.status.success(),
                "pg_restore failed ({}), nothing was restored: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    let db = connect(&url)
        .await?
        .with_chain_keys(ring.chain_keys().clone());
    let restored = store_backup::describe(&db.conn).await?;
    anyhow::ensure!(
        restored.counts == manifest.tables,
        "the restored row counts differ from the manifest's: {}",
        count_differences(&manifest.tables, &restored.counts)
    );
    let verification = audit::verify(&db).await?;
    if let Some((seq, why)) = verification.broken {
        anyhow::bail!(
            "restored, but the audit log is BROKEN at event {seq}: {why}; keep the instances stopped and investigate"
        );
    }
    db.conn.close().await?;
    for name in unknown_here {
        tracing::warn!(key = %name, "configured vault key unknown to the backup: instances refuse it until `huigong keys rotate` records it");
    }
    Ok(Restored {
        manifest,
        audit_events: verification.checked,
    })
}

fn count_differences(want: &Counts, got: &Counts) -> String {
    let mut names: Vec<&String> = want.keys().chain(got.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| want.get(*n) != got.get(*n))
        .map(|n| {
            format!(
                "{n}: {} in the manifest, {} restored",
                want.get(n).map_or("none".to_owned(), u64::to_string),
                got.get(n).map_or("none".to_owned(), u64::to_string)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (url, pw) =
            split_password("postgres://huigong:s%40cret:x@db:5432/huigong?sslmode=require");
        assert_eq!(url, "postgres://huigong@db:5432/huigong?sslmode=require");
        assert_eq!(pw.as_deref(), Some("s@cret:x"));
        let (url, pw) = split_password("postgres://postgres@127.0.0.1:5432/postgres");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/postgres");
        assert_eq!(pw, None);
    }
}
