//! Meters' secret keys on disk: one file per meter, written atomically with mode 0600 in a
//! directory with mode 0700, and refused on load when group or others can read it (as ssh
//! does), because a readable Paillier factor is a household's readings.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeal_protocol::round::crypto::MeterSecrets;

/// Errors of the key store.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("key store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path}: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: zeal_protocol::ProtocolError,
    },
    #[error("meter id {0:?} cannot be a file name")]
    BadId(String),
}

/// A directory of meter keys.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyStoreError + '_ {
    move |source| KeyStoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl KeyStore {
    /// Opens (creating it with mode 0700 if needed) the key directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyStoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        Ok(KeyStore { dir })
    }

    fn path(&self, meter_id: &str) -> Result<PathBuf, KeyStoreError> {
        if meter_id.is_empty() || meter_id.starts_with('.') || meter_id.contains(['/', '\\', '\0'])
        {
            return Err(KeyStoreError::BadId(meter_id.to_string()));
        }
        Ok(self.dir.join(format!("{meter_id}.key")))
    }

    /// Writes a meter's secrets: temporary file created 0600, synced, renamed into place.
    pub fn save(&self, meter_id: &str, secrets: &MeterSecrets) -> Result<PathBuf, KeyStoreError> {
        let path = self.path(meter_id)?;
        let tmp = path.with_extension("key.tmp");
        let bytes = secrets.to_secret_bytes();
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        // An existing temporary file keeps its old mode: force it.
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(path)
    }

    /// Reads a meter's secrets, or `None` when it has none yet.
    pub fn load(&self, meter_id: &str) -> Result<Option<MeterSecrets>, KeyStoreError> {
        let path = self.path(meter_id)?;
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyStoreError::TooOpen { path, mode });
        }
        let bytes = zeroize::Zeroizing::new(fs::read(&path).map_err(io(&path))?);
        MeterSecrets::from_secret_bytes(&bytes)
            .map(Some)
            .map_err(|source| KeyStoreError::Corrupt { path, source })
    }

    /// Meter ids with a key in the store, sorted.
    pub fn meters(&self) -> Result<Vec<String>, KeyStoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let name = entry.map_err(io(&self.dir))?.file_name();
            if let Some(id) = name.to_string_lossy().strip_suffix(".key") {
                out.push(id.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn keys_are_owner_only_and_round_trip() {
        let dir = std::env::temp_dir().join(format!("zeal-keystore-{}", std::process::id()));
        let store = KeyStore::open(&dir).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let secrets = MeterSecrets::generate(2048, &mut rng).unwrap();
        let path = store.save("NL-01-m0001", &secrets).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let back = store.load("NL-01-m0001").unwrap().unwrap();
        assert_eq!(
            back.public_keys().fingerprint(),
            secrets.public_keys().fingerprint()
        );
        assert!(store.load("absent").unwrap().is_none());
        assert_eq!(store.meters().unwrap(), vec!["NL-01-m0001".to_string()]);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            store.load("NL-01-m0001"),
            Err(KeyStoreError::TooOpen { .. })
        ));
        assert!(matches!(
            store.save("../evil", &secrets),
            Err(KeyStoreError::BadId(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
