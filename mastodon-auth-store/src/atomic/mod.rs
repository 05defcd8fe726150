//! Crash-safe, private file writes and bounded reads, shared by the file-backed stores and
//! usable by custom ones.
//!
//! A write goes to a fresh temporary file in the target's folder (mode 0600 on unix), is
//! flushed to disk, renamed over the target and the folder is flushed too, so the target is
//! always either the old or the new content, never a mix. Missing parent folders are created
//! with mode 0700. Concurrent writers in several processes coordinate through an advisory lock
//! on a sibling `<file>.lock` ([`lock`]), waited for with a bound ([`LockWait`]).
//!
//! When the target is a symbolic link (a credential file kept in a dotfiles folder), the
//! write goes to the file the link leads to, and the link stays. A writer killed between
//! writing its temporary file and the rename leaves that file behind; it is never read, and
//! the next writer to take the lock removes it.
//!
//! ```
//! use mastodon_auth_store::atomic::{LockWait, lock, read_bounded, write_atomic};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("sub/creds.txt");
//! let _lock = lock(&path, &LockWait::new())?;
//! write_atomic(&path, b"hello\n")?;
//! assert_eq!(read_bounded(&path)?.as_deref(), Some("hello\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod link;
mod lock;
mod read;
mod write;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use mastodon_auth_core::StoreError;

pub use lock::{FileLock, LockWait, lock};
pub use read::{MAX_FILE_SIZE, read_bounded};
pub(crate) use write::remove;
pub use write::{StagedWrite, create_private_dirs, stage, write_atomic};

/// Mode of every credential, temporary and lock file the stores create (unix).
pub const FILE_MODE: u32 = 0o600;

/// Mode of every folder the stores create (unix).
pub const DIR_MODE: u32 = 0o700;

pub(crate) fn io_err(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn corrupt(path: &Path, line: Option<usize>, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        line,
        reason: reason.into(),
    }
}

/// `<target><suffix>` in the target's folder.
fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(target.file_name().unwrap_or_default());
    name.push(suffix);
    target.with_file_name(name)
}

fn parent_of(target: &Path) -> &Path {
    target.parent().unwrap_or(Path::new(""))
}

/// Runs file work off the async runtime's worker threads (lock waits can be long); runs it in
/// place when there is no tokio runtime, so the stores also work under other executors.
pub(crate) async fn blocking<T, F>(path: &Path, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(work).await.map_err(|e| {
            let why = if e.is_panic() {
                "the background file task panicked"
            } else {
                "the background file task was cancelled"
            };
            io_err("finish work on", path, io::Error::other(why))
        })?,
        Err(_) => work(),
    }
}
