//! The advisory lock that serialises writers of one credential file, taken with a bound.

use std::fmt;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mastodon_auth_core::StoreError;

use super::read::check_target;
use super::write::{create_private_dirs, private_open_options, sweep_stale_temps};
use super::{io_err, link, parent_of, sibling};

/// How long a store waits for another process's lock on a credential file, and whom it tells
/// that it is waiting.
///
/// A process that holds the lock for long (a stuck `mastodon-auth`, a debugger) would
/// otherwise make every other one hang in silence. Once the wait has lasted
/// [`NOTICE_AFTER`](Self::NOTICE_AFTER) the observer set with [`on_wait`](Self::on_wait) is
/// called once with the credential file; after the [`timeout`](Self::timeout) the operation
/// fails with [`StoreError::LockTimeout`].
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_store::AccountsFile;
/// use mastodon_auth_store::atomic::LockWait;
/// let store = AccountsFile::open("accounts.json").lock_wait(
///     LockWait::new()
///         .timeout(Duration::from_secs(10))
///         .on_wait(|file| {
///             eprintln!("waiting for {} (held by another mastodon-auth)…", file.display());
///         }),
/// );
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct LockWait {
    timeout: Duration,
    observer: Option<Observer>,
}

/// Told which credential file a store is waiting for.
type Observer = Arc<dyn Fn(&Path) + Send + Sync>;

impl LockWait {
    /// The default bound on a wait: 30 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// How long a wait lasts before the observer hears of it: 1 s, longer than a healthy
    /// holder keeps the lock (a read-modify-write of the file, or a token refresh: one
    /// request to the instance).
    pub const NOTICE_AFTER: Duration = Duration::from_secs(1);

    /// Waits up to [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), telling nobody.
    #[must_use]
    pub fn new() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            observer: None,
        }
    }

    /// Waits up to `timeout` for the lock, then fails with [`StoreError::LockTimeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls `observer` with the credential file once a wait for its lock has lasted
    /// [`NOTICE_AFTER`](Self::NOTICE_AFTER). It runs on the waiting (blocking) thread.
    #[must_use]
    pub fn on_wait(mut self, observer: impl Fn(&Path) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The bound on a wait.
    #[must_use]
    pub fn current_timeout(&self) -> Duration {
        self.timeout
    }
}

impl Default for LockWait {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LockWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockWait")
            .field("timeout", &self.timeout)
            .field("on_wait", &self.observer.as_ref().map(|_| "set"))
            .finish()
    }
}

/// An exclusive advisory lock on a credential file's `<file>.lock`, released on drop. See
/// [`lock`].
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// The lock file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first just makes it prompt.
        let _ = self.file.unlock();
    }
}

/// The longest pause between two attempts to take a held lock.
const MAX_PAUSE: Duration = Duration::from_millis(10);

/// Takes an exclusive advisory lock on `<file>.lock` beside `target`, waiting as `wait` says.
/// Blocks: call it from blocking code. Locks taken through separate calls exclude each other
/// even inside one process.
///
/// When `target` is a symbolic link, the lock file sits beside the file the link points to,
/// not beside the link: every path that leads to one file (the link, the file itself, a
/// second link) then takes the same lock. The lock file is created with mode 0600 and never
/// deleted, so every process locks the same file.
///
/// Once it holds the lock, it removes the temporary files that writers of `target` killed
/// between [`stage`](super::stage) and [`commit`](super::StagedWrite::commit) left behind.
///
/// # Errors
/// [`StoreError::LockTimeout`] when another process holds the lock for longer than `wait`
/// allows; [`StoreError::Io`] when the lock file cannot be created or locked;
/// [`StoreError::Corrupt`] when `target` exists but is not a regular file.
pub fn lock(target: &Path, wait: &LockWait) -> Result<FileLock, StoreError> {
    check_target(target)?;
    let resolved = link::final_target(target)?;
    create_private_dirs(parent_of(&resolved))?;
    let path = sibling(&resolved, ".lock");
    let file = private_open_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_err("create lock file", &path, e))?;
    let started = Instant::now();
    let mut told = false;
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &path, e)),
        }
        // flock() has no timeout: poll, with pauses short enough that a freed lock is taken
        // soon after.
        let waited = started.elapsed();
        if waited >= wait.timeout {
            return Err(StoreError::LockTimeout { path, waited });
        }
        if !told && waited >= LockWait::NOTICE_AFTER {
            told = true;
            if let Some(observer) = &wait.observer {
                observer(target);
            }
        }
        std::thread::sleep(pause.min(wait.timeout.saturating_sub(waited)));
        pause = (pause * 2).min(MAX_PAUSE);
    }
    sweep_stale_temps(&resolved);
    Ok(FileLock { file, path })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn a_second_lock_waits_for_the_first_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let held = lock(&path, &LockWait::new()).unwrap();
        let short = LockWait::new().timeout(Duration::from_millis(50));
        match lock(&path, &short) {
            Err(StoreError::LockTimeout { path: p, waited }) => {
                assert_eq!(p, held.path());
                assert!(waited >= Duration::from_millis(50));
            }
            other => panic!("expected LockTimeout, got {other:?}"),
        }
        drop(held);
        assert!(lock(&path, &short).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&path).status();
        if !status.is_ok_and(|s| s.success()) {
            return; // no mkfifo here: nothing to check
        }
        assert!(lock(&path, &LockWait::new()).is_err());
    }

    #[test]
    fn nothing_is_made_beside_a_folder_or_a_nameless_path() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("sub");
        fs::create_dir(&folder).unwrap();
        assert!(lock(&folder, &LockWait::new()).is_err());
        assert!(lock(Path::new("/"), &LockWait::new()).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
