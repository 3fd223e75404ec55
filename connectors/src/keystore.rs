//! Seats' daily Paillier keys on disk: one file per (seat, day), written atomically with mode
//! 0600 in a directory with mode 0700, refused on load when group or others can read it (as ssh
//! does), because a readable factor of n opens every share sent to the seat that day. A gateway
//! restarted mid-day reads its seat's key back instead of generating one the day's KeysClosed
//! does not hold (the seat would be absent for the rest of the day). Keys of a day are deleted
//! once that day's deletion time (end of day + `key_deletion_seconds`) has passed.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeal_protocol::v2::crypto::paillier::{PaillierError, SeatSecretKey};
use zeal_protocol::v2::params::DAY_SECONDS;

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
        source: PaillierError,
    },
    #[error("{path} holds a key made for another region, day, seat or Cutoff")]
    OtherContext { path: PathBuf },
    #[error("seat id {0:?} cannot be a file name")]
    BadId(String),
}

/// A directory of seats' daily keys.
#[derive(Debug, Clone)]
pub struct SeatKeyStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyStoreError + '_ {
    move |source| KeyStoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl SeatKeyStore {
    /// Opens (creating it with mode 0700 if needed) the key directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyStoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        Ok(SeatKeyStore { dir })
    }

    /// `<seat>@<day>.seat`, `day` as days since the epoch.
    fn path(&self, seat: &str, day: i64) -> Result<PathBuf, KeyStoreError> {
        if seat.is_empty() || seat.starts_with('.') || seat.contains(['/', '\\', '\0', '@']) {
            return Err(KeyStoreError::BadId(seat.to_string()));
        }
        Ok(self.dir.join(format!("{seat}@{day}.seat")))
    }

    /// Writes a seat's key of `day`, made for the key `context`: temporary file created 0600,
    /// synced, renamed into place. The file holds `len (u32 BE) ‖ context ‖ secret`.
    pub fn save(
        &self,
        seat: &str,
        day: i64,
        context: &[u8],
        key: &SeatSecretKey,
    ) -> Result<PathBuf, KeyStoreError> {
        let path = self.path(seat, day)?;
        let tmp = path.with_extension("seat.tmp");
        let mut bytes = zeroize::Zeroizing::new((context.len() as u32).to_be_bytes().to_vec());
        bytes.extend_from_slice(context);
        bytes.extend_from_slice(&key.to_secret_bytes());
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

    /// Reads a seat's key of `day` (checked against the key `context` it was made for), or
    /// `None` when there is none.
    pub fn load(
        &self,
        seat: &str,
        day: i64,
        context: &[u8],
    ) -> Result<Option<SeatSecretKey>, KeyStoreError> {
        let path = self.path(seat, day)?;
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
        let secret = bytes
            .split_first_chunk::<4>()
            .and_then(|(len, rest)| {
                let len = u32::from_be_bytes(*len) as usize;
                (rest.len() >= len && rest[..len] == *context).then(|| &rest[len..])
            })
            .ok_or_else(|| KeyStoreError::OtherContext { path: path.clone() })?;
        SeatSecretKey::from_secret_bytes(secret, context)
            .map(Some)
            .map_err(|source| KeyStoreError::Corrupt { path, source })
    }

    /// Deletes the keys of every day other than `keep` whose deletion time (end of the day +
    /// `key_deletion_seconds`) is at or before `now` (unix seconds); returns the files deleted.
    pub fn delete_expired(
        &self,
        now: i64,
        key_deletion_seconds: u32,
        keep: i64,
    ) -> Result<Vec<PathBuf>, KeyStoreError> {
        let mut deleted = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let path = entry.map_err(io(&self.dir))?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let Some(day) = name
                .strip_suffix(".seat")
                .and_then(|n| n.rsplit_once('@'))
                .and_then(|(_, d)| d.parse::<i64>().ok())
            else {
                continue;
            };
            if day != keep && (day + 1) * DAY_SECONDS + i64::from(key_deletion_seconds) <= now {
                fs::remove_file(&path).map_err(io(&path))?;
                deleted.push(path);
            }
        }
        deleted.sort();
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn seat_keys_are_owner_only_round_trip_and_expire() {
        let dir = std::env::temp_dir().join(format!("zeal-seatkeys-{}", std::process::id()));
        let store = SeatKeyStore::open(&dir).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let (day, context) = (18_444, b"NL-01 day 18444 seat NL-01-m0001".as_slice());
        let key = SeatSecretKey::generate(1024, context, &mut rng);
        let path = store.save("NL-01-m0001", day, context, &key).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let back = store.load("NL-01-m0001", day, context).unwrap().unwrap();
        assert_eq!(back.public(), key.public());
        assert!(
            store
                .load("NL-01-m0001", day + 1, context)
                .unwrap()
                .is_none()
        );
        // Read back for another key context (another region, day, seat or Cutoff): refused.
        assert!(matches!(
            store.load("NL-01-m0001", day, b"another context"),
            Err(KeyStoreError::OtherContext { .. })
        ));
        fs::write(&path, b"\0\0\0\x01").unwrap();
        assert!(matches!(
            store.load("NL-01-m0001", day, context),
            Err(KeyStoreError::OtherContext { .. })
        ));
        store.save("NL-01-m0001", day, context, &key).unwrap();

        // Deleted once the day's deletion time passed, never the day being run.
        let t_del = 86_400;
        let deadline = (day + 1) * DAY_SECONDS + i64::from(t_del);
        assert!(
            store
                .delete_expired(deadline - 1, t_del, -1)
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .delete_expired(deadline, t_del, day)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.delete_expired(deadline, t_del, day + 5).unwrap(),
            vec![path.clone()]
        );
        assert!(store.load("NL-01-m0001", day, context).unwrap().is_none());

        store.save("NL-01-m0001", day, context, &key).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            store.load("NL-01-m0001", day, context),
            Err(KeyStoreError::TooOpen { .. })
        ));
        assert!(matches!(
            store.save("../evil", day, context, &key),
            Err(KeyStoreError::BadId(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
