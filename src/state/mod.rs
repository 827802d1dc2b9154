//! Persisted state: where it lives, how it is written (versioned, atomic, locked).
//!
//! Each lab run is keyed by lab, account and region:
//! `<state dir>/<lab>/<account>-<region>/{progress.json, ledger.json, lock}`.
//! The state dir is `--state-dir`, else `LABRUNNER_STATE_DIR`, else the platform's data
//! directory (`~/.local/share/labrunner` on Linux).

pub mod cost;
pub mod ledger;
pub mod progress;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

/// The state directory to use: the option, the environment, or the platform default.
pub fn state_dir(option: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(dir) = option {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("LABRUNNER_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_dir().map(|d| d.join("labrunner")).ok_or_else(|| {
        Error::usage(
            "cannot find a data directory for labrunner's state",
            "pass --state-dir DIR or set LABRUNNER_STATE_DIR",
        )
    })
}

/// The files of one lab run (lab + account + region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    /// `<state dir>/<lab>/<account>-<region>`.
    pub dir: PathBuf,
}

impl RunDir {
    /// The run directory for `lab` in `account` and `region`.
    pub fn new(state_dir: &Path, lab: &str, account: &str, region: &str) -> Self {
        RunDir { dir: state_dir.join(lab).join(format!("{account}-{region}")) }
    }

    /// Every run directory of `lab` (all accounts and regions), sorted.
    pub fn all_for_lab(state_dir: &Path, lab: &str) -> Vec<RunDir> {
        let Ok(entries) = std::fs::read_dir(state_dir.join(lab)) else { return Vec::new() };
        let mut dirs: Vec<RunDir> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| RunDir { dir: e.path() })
            .collect();
        dirs.sort_by(|a, b| a.dir.cmp(&b.dir));
        dirs
    }

    /// Every lab that has state, sorted.
    pub fn labs(state_dir: &Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(state_dir) else { return Vec::new() };
        let mut labs: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        labs.sort();
        labs
    }

    /// The progress file.
    pub fn progress(&self) -> PathBuf {
        self.dir.join("progress.json")
    }

    /// The cleanup ledger.
    pub fn ledger(&self) -> PathBuf {
        self.dir.join("ledger.json")
    }

    /// The working directory shell blocks run in.
    pub fn workdir(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// The private directory for a running block's script (see `exec`).
    pub fn scratch(&self) -> PathBuf {
        self.dir.join("scratch")
    }

    /// Creates the run directory (and missing parents) private to the user: 0700.
    pub fn create(&self) -> Result<(), Error> {
        private_dir_all(&self.dir)
    }

    /// Takes the run's lock, or fails with [`Error::Locked`] if another process holds it.
    /// The lock is released when the returned guard is dropped or the process ends.
    pub fn lock(&self, lab: &str) -> Result<RunLock, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        self.create()?;
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error("open", &path, &e))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { lab: lab.to_string(), path }),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error("lock", &path, &e)),
        }
    }
}

/// Holds a run's lock while alive.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Creates `dir` and its missing parents with mode 0700, and makes `dir` itself 0700 if it
/// existed with looser permissions (state from an older labrunner). Existing parents that
/// labrunner did not create are left as they are.
pub fn private_dir_all(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error("create", dir, &e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io_error("protect", dir, &e))
}

/// An I/O error on `path`.
pub fn io_error(action: &'static str, path: &Path, e: &std::io::Error) -> Error {
    Error::Io { action, path: path.to_path_buf(), detail: e.to_string() }
}

/// Writes `value` as pretty JSON to `path` atomically: a temporary file in the same
/// directory, flushed to disk, then renamed over the old file.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir_all(dir)?;
    // NamedTempFile is created 0600, and the rename keeps that mode.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error("write", dir, &e))?;
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::State {
        path: path.to_path_buf(),
        message: format!("cannot serialise state: {e}"),
        hint: "this is a bug in labrunner; please report it".into(),
    })?;
    text.push('\n');
    tmp.write_all(text.as_bytes()).map_err(|e| io_error("write", path, &e))?;
    tmp.as_file().sync_all().map_err(|e| io_error("write", path, &e))?;
    tmp.persist(path).map_err(|e| io_error("write", path, &e.error))?;
    Ok(())
}

/// What reading a versioned state file found.
#[derive(Debug)]
pub enum Loaded<T> {
    /// No file: a first run.
    Missing,
    /// The file, read and understood.
    Found(T),
    /// The file is there but unreadable as state; it was moved aside to `backup`.
    Corrupt {
        /// Where the unreadable file now is.
        backup: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

/// Reads a versioned JSON state file. A file from a newer labrunner is an error (never
/// overwritten). A corrupt file is moved aside (kept for the user) and reported when
/// `move_aside` is set, and is an error that leaves the file alone otherwise.
///
/// Moving aside writes: only a caller holding the run's lock may ask for it.
pub fn read_versioned<T: DeserializeOwned>(
    path: &Path,
    current: u32,
    what: &str,
    move_aside: bool,
) -> Result<Loaded<T>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(io_error("read", path, &e)),
    };
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64));
    if let Some(v) = version {
        if v > u64::from(current) {
            return Err(Error::State {
                path: path.to_path_buf(),
                message: format!(
                    "this {what} was written by a newer labrunner (format {v}; this one reads {current})"
                ),
                hint: "upgrade labrunner; the file is left untouched".into(),
            });
        }
    }
    match serde_json::from_str::<T>(&text) {
        Ok(value) => Ok(Loaded::Found(value)),
        Err(e) if !move_aside => Err(Error::State {
            path: path.to_path_buf(),
            message: format!("this {what} cannot be read: {e}"),
            hint: "the file is left untouched; repair it by hand (it is JSON) or move it away if you are sure nothing it lists still exists".into(),
        }),
        Err(e) => {
            let backup = path.with_extension(format!("corrupt-{}.json", std::process::id()));
            std::fs::rename(path, &backup).map_err(|err| io_error("move aside", path, &err))?;
            Ok(Loaded::Corrupt { backup, reason: e.to_string() })
        }
    }
}

/// Now, as RFC 3339 UTC with seconds.
pub fn timestamp() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    struct Doc {
        version: u32,
        n: u32,
    }

    #[test]
    fn atomic_write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/doc.json");
        write_json_atomic(&path, &Doc { version: 1, n: 7 }).unwrap();
        match read_versioned::<Doc>(&path, 1, "doc", true).unwrap() {
            Loaded::Found(d) => assert_eq!(d, Doc { version: 1, n: 7 }),
            other => panic!("{other:?}"),
        }
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }

    #[test]
    fn missing_newer_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        assert!(matches!(read_versioned::<Doc>(&path, 1, "doc", true).unwrap(), Loaded::Missing));

        std::fs::write(&path, r#"{"version": 9, "n": 1}"#).unwrap();
        let err = read_versioned::<Doc>(&path, 1, "doc", true).unwrap_err();
        assert!(err.to_string().contains("newer labrunner (format 9"), "{err}");
        assert!(path.exists(), "a newer file is never moved or overwritten");

        std::fs::write(&path, "{not json").unwrap();
        match read_versioned::<Doc>(&path, 1, "doc", true).unwrap() {
            Loaded::Corrupt { backup, .. } => {
                assert!(!path.exists());
                assert_eq!(std::fs::read_to_string(backup).unwrap(), "{not json");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn state_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(&dir.path().join("state"), "lab", "123456789012", "us-east-1");
        let _lock = run.lock("lab").unwrap();
        write_json_atomic(&run.progress(), &Doc { version: 1, n: 1 }).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&run.dir), 0o700);
        assert_eq!(mode(run.dir.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
        assert_eq!(mode(&run.dir.join("lock")), 0o600);
        assert_eq!(mode(&run.progress()), 0o600);
    }

    #[test]
    fn a_second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path(), "lab", "123456789012", "us-east-1");
        let first = run.lock("lab").unwrap();
        let second = run.lock("lab").unwrap_err();
        assert!(matches!(second, Error::Locked { .. }));
        drop(first);
        run.lock("lab").unwrap();
    }
}
