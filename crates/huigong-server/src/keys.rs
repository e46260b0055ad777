//! Loading the vault's keys: from configuration, or — outside production — from a development
//! key file generated on first start beside the SQLite database (never committed: `data/` is
//! ignored by git).

use crate::settings::{Profile, Settings};
use anyhow::Context as _;
use huigong_store::Database;
use huigong_vault::{KeyMaterial, KeyRing};
use std::path::{Path, PathBuf};

const DEV_FILE_NAME: &str = "dev-vault-keys.toml";

/// Where development keys are kept for these settings.
pub fn dev_key_file(settings: &Settings) -> PathBuf {
    if !settings.vault.dev_key_file.is_empty() {
        return PathBuf::from(&settings.vault.dev_key_file);
    }
    let url = settings.database.url.expose();
    let sqlite_dir = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or_default())
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
        .filter(|d| !d.as_os_str().is_empty());
    sqlite_dir
        .unwrap_or_else(|| PathBuf::from("data"))
        .join(DEV_FILE_NAME)
}

/// The key material these settings name, generating development keys when none are configured
/// (refused in production).
pub fn load_material(settings: &Settings) -> anyhow::Result<KeyMaterial> {
    let vault = &settings.vault;
    if !vault.keys.is_empty() {
        return KeyMaterial::parse(
            vault.keys.expose(),
            vault.active_key_id,
            vault.blind_index_key.expose(),
        )
        .context("vault keys in configuration");
    }
    anyhow::ensure!(
        settings.profile != Profile::Production,
        "vault.keys is missing (production never generates keys)"
    );
    let path = dev_key_file(settings);
    if path.exists() {
        return read_dev_file(&path, vault.active_key_id);
    }
    let material = KeyMaterial::generate();
    write_dev_file(&path, &material)?;
    tracing::warn!(path = %path.display(), "generated development vault keys");
    Ok(material)
}

/// The key ring for these settings.
pub fn load_key_ring(settings: &Settings) -> anyhow::Result<KeyRing> {
    Ok(KeyRing::new(&load_material(settings)?))
}

/// Proves that `ring` holds the database's keys (its fingerprints match those recorded by the
/// first start, which records them all; a key the database has not recorded refuses — only
/// [`prove_and_record`] adds one); at the first start with keys, seals audit events written
/// before keyed chaining. A mismatch is an error naming the key: the caller refuses to start.
/// `db` must carry the ring's audit chain keys.
pub async fn prove(db: &Database, ring: &KeyRing) -> anyhow::Result<()> {
    prove_with(db, ring, false).await
}

/// [`prove`], recording keys the database has not seen yet: `huigong keys rotate` only.
pub async fn prove_and_record(db: &Database, ring: &KeyRing) -> anyhow::Result<()> {
    prove_with(db, ring, true).await
}

async fn prove_with(db: &Database, ring: &KeyRing, record_new: bool) -> anyhow::Result<()> {
    use huigong_store::key_fingerprints::{self, KeyCheckError};
    let now = chrono::Utc::now();
    let check = match key_fingerprints::check_and_record(db, ring, now, record_new).await {
        Ok(check) => check,
        Err(e @ (KeyCheckError::Mismatch(_) | KeyCheckError::Unrecorded(_))) => {
            anyhow::bail!("refusing to start: {e}")
        }
        Err(KeyCheckError::Store(e)) => {
            return Err(anyhow::Error::from(e).context("checking the vault key fingerprints"));
        }
    };
    for name in &check.recorded {
        tracing::info!(key = %name, "vault key fingerprint recorded");
    }
    for name in &check.missing_here {
        tracing::warn!(
            key = %name,
            "the database was written with a vault key this instance does not hold: values sealed with it do not open here"
        );
    }
    // Only at the first start with keys: a later one must not seal a chain rewritten meanwhile.
    if check.first && huigong_store::audit::seal_unkeyed(db, now).await? {
        tracing::info!("audit events chained before keyed chaining are sealed by a keyed event");
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DevFile {
    keys: String,
    blind_index_key: String,
}

fn read_dev_file(path: &Path, active: u16) -> anyhow::Result<KeyMaterial> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading development keys {}", path.display()))?;
    let file: DevFile =
        toml::from_str(&text).with_context(|| format!("development keys {}", path.display()))?;
    KeyMaterial::parse(&file.keys, active, &file.blind_index_key)
        .with_context(|| format!("development keys {}", path.display()))
}

/// Writes development keys (mode 0600). Also used by `huigong keys rotate --new-key`.
pub fn write_dev_file(path: &Path, material: &KeyMaterial) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = format!(
        "# DEVELOPMENT ONLY: vault keys generated by huigong for the embedded default.\n\
         # Never copy them to production; production takes HUIGONG__VAULT__KEYS instead.\n\
         keys = \"{}\"\nblind_index_key = \"{}\"\n",
        material.keys_text().as_str(),
        material.blind_index.to_base64().as_str()
    );
    let tmp = path.with_extension("tmp");
    write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Profile;

    fn settings_in(dir: &Path) -> Settings {
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let mut s =
            Settings::load_files(&config, Profile::Development).unwrap_or_else(|e| panic!("{e:#}"));
        s.database.url = format!("sqlite://{}/db/huigong.sqlite", dir.display()).into();
        s
    }

    #[test]
    fn development_keys_are_generated_once_beside_the_database() {
        let dir = std::env::temp_dir().join(format!("huigong-keys-{}", uuid_like()));
        let settings = settings_in(&dir);
        let path = dev_key_file(&settings);
        assert_eq!(path, dir.join("db").join(DEV_FILE_NAME));
        let first = load_material(&settings).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(path.exists());
        let second = load_material(&settings).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(first.keys_text().as_str(), second.keys_text().as_str());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn production_never_generates_keys() {
        let dir = std::env::temp_dir().join(format!("huigong-keys-{}", uuid_like()));
        let mut settings = settings_in(&dir);
        settings.profile = Profile::Production;
        assert!(load_material(&settings).is_err());
        assert!(!dev_key_file(&settings).exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn uuid_like() -> String {
        use rand::Rng as _;
        format!("{:016x}", rand::rng().random::<u64>())
    }
}
