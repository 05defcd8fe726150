//! Crash-safe, private file writes and bounded reads, shared by the file-backed stores and
//! usable by custom ones.
//!
//! A write goes to a fresh temporary file in the target's folder (mode 0600 on unix), is
//! flushed to disk, renamed over the target and the folder is flushed too, so the target is
//! always either the old or the new content, never a mix. Missing parent folders are created
//! with mode 0700. Concurrent writers in several processes coordinate through an advisory lock
//! on a sibling `<file>.lock` ([`lock`]).
//!
//! ```
//! use mastodon_auth_store::atomic::{read_bounded, write_atomic};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("sub/creds.txt");
//! write_atomic(&path, b"hello\n")?;
//! assert_eq!(read_bounded(&path)?.as_deref(), Some("hello\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mastodon_auth_core::StoreError;

/// The largest credential file the stores read (16 MiB: an accounts file with 10,000 accounts
/// is about 2.7 MB); anything bigger is [`StoreError::TooLarge`], so a wrong path (a disk
/// image, a log) is refused instead of read into memory.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

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

/// Reads a credential file as text. A missing file is `Ok(None)`.
///
/// # Errors
/// [`StoreError::TooLarge`] above [`MAX_FILE_SIZE`]; [`StoreError::Corrupt`] (with the line)
/// for a file that is not a regular file, holds NUL bytes or is not UTF-8;
/// [`StoreError::Io`] when it cannot be read.
pub fn read_bounded(path: &Path) -> Result<Option<String>, StoreError> {
    // Look before opening: opening a named pipe for reading would block until a writer came.
    match check_target(path) {
        Ok(false) => return Ok(None),
        Ok(true) => {}
        Err(e) => return Err(e),
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path, e)),
    };
    let meta = file.metadata().map_err(|e| io_err("inspect", path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(StoreError::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
            limit: MAX_FILE_SIZE,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow between metadata() and read(): never read more than the limit + 1.
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err("read", path, e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(StoreError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            limit: MAX_FILE_SIZE,
        });
    }
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(corrupt(
            path,
            Some(line_of(&bytes, pos)),
            "contains NUL bytes: this is a binary file, not a credential file",
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            let pos = e.utf8_error().valid_up_to();
            Err(corrupt(
                path,
                Some(line_of(e.as_bytes(), pos)),
                "is not valid UTF-8 text",
            ))
        }
    }
}

fn not_regular(path: &Path) -> StoreError {
    corrupt(
        path,
        None,
        "is not a regular file (a folder, a pipe or a device?)",
    )
}

/// `Ok(true)` when `target` is a regular file, `Ok(false)` when nothing is there; an error for
/// anything else (a folder, a device, a path without a file name), before any lock file or
/// temporary file is made beside it.
fn check_target(target: &Path) -> Result<bool, StoreError> {
    if target.file_name().is_none() {
        return Err(corrupt(target, None, "does not name a file"));
    }
    match fs::metadata(target) {
        Ok(meta) if meta.is_file() => Ok(true),
        Ok(_) => Err(not_regular(target)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("inspect", target, e)),
    }
}

fn line_of(bytes: &[u8], pos: usize) -> usize {
    bytes[..pos].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Creates `dir` and its missing ancestors with mode 0700 (existing folders are left alone).
///
/// # Errors
/// [`StoreError::Io`] naming the folder that could not be created.
pub fn create_private_dirs(dir: &Path) -> Result<(), StoreError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dirs(parent)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(DIR_MODE);
    }
    match builder.create(dir) {
        Ok(()) => {
            // The umask may have taken bits away; make the mode exact.
            set_mode(dir, DIR_MODE).map_err(|e| io_err("set permissions of", dir, e))
        }
        // Another process created it in the meantime.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(io_err("create folder", dir, e)),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

fn private_open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(FILE_MODE);
    }
    options
}

fn sibling(target: &Path, suffix: &str, hidden: bool) -> PathBuf {
    let mut name = OsString::new();
    if hidden {
        name.push(".");
    }
    name.push(target.file_name().unwrap_or_default());
    name.push(suffix);
    target.with_file_name(name)
}

fn parent_of(target: &Path) -> &Path {
    target.parent().unwrap_or(Path::new(""))
}

/// An exclusive advisory lock on `<file>.lock`, released on drop. See [`lock`].
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

/// Takes an exclusive advisory lock on the sibling `<target>.lock` (created with mode 0600
/// and never deleted, so every process locks the same file). Blocks until the lock is free:
/// call it from blocking code. Locks taken through separate calls exclude each other even
/// inside one process.
///
/// # Errors
/// [`StoreError::Io`] when the lock file cannot be created or locked;
/// [`StoreError::Corrupt`] when `target` exists but is not a regular file.
pub fn lock(target: &Path) -> Result<FileLock, StoreError> {
    check_target(target)?;
    create_private_dirs(parent_of(target))?;
    let path = sibling(target, ".lock", false);
    let file = private_open_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_err("create lock file", &path, e))?;
    file.lock().map_err(|e| io_err("lock", &path, e))?;
    Ok(FileLock { file, path })
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new version of a file, written and flushed to a temporary file beside it but not yet in
/// place. [`commit`](Self::commit) renames it over the target; dropping it removes the
/// temporary file and leaves the target as it was.
///
/// Splitting the write lets tests stop between the two steps, as a crash would.
#[derive(Debug)]
#[must_use = "the target is unchanged until commit() is called"]
pub struct StagedWrite {
    temp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl StagedWrite {
    /// The temporary file holding the new content.
    #[must_use]
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The file that [`commit`](Self::commit) replaces.
    #[must_use]
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temporary file over the target and flushes the folder.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the rename fails (the target is then unchanged) or the folder
    /// cannot be flushed.
    pub fn commit(mut self) -> Result<(), StoreError> {
        fs::rename(&self.temp, &self.target).map_err(|e| io_err("rename", &self.target, e))?;
        self.done = true;
        sync_dir(parent_of(&self.target))
    }
}

impl Drop for StagedWrite {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let handle = File::open(dir).map_err(|e| io_err("open folder", dir, e))?;
    match handle.sync_all() {
        // Some file systems cannot flush a folder; the rename has happened regardless.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(io_err("flush folder", dir, e)),
        Ok(()) => Ok(()),
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Writes `contents` to a new temporary file beside `target` (mode 0600, unique name), and
/// flushes it to disk; creates missing parent folders with mode 0700.
///
/// # Errors
/// [`StoreError::Io`] naming the folder or temporary file that failed;
/// [`StoreError::Corrupt`] when `target` exists but is not a regular file.
pub fn stage(target: &Path, contents: &[u8]) -> Result<StagedWrite, StoreError> {
    check_target(target)?;
    create_private_dirs(parent_of(target))?;
    let (temp, mut file) = loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = sibling(
            target,
            &format!(".{}-{n}-{nanos:08x}.tmp", std::process::id()),
            true,
        );
        match private_open_options()
            .write(true)
            .create_new(true)
            .open(&temp)
        {
            Ok(f) => break (temp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create temporary file", &temp, e)),
        }
    };
    let staged = StagedWrite {
        temp,
        target: target.to_owned(),
        done: false,
    };
    let temp = &staged.temp;
    // The umask may have taken bits away (even the owner's write bit): make the mode exact.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(|e| io_err("set permissions of", temp, e))?;
    }
    file.write_all(contents)
        .map_err(|e| io_err("write", temp, e))?;
    file.sync_all().map_err(|e| io_err("flush", temp, e))?;
    Ok(staged)
}

/// [`stage`] then [`StagedWrite::commit`]: replaces `target` with `contents` atomically.
///
/// # Errors
/// See [`stage`] and [`StagedWrite::commit`].
pub fn write_atomic(target: &Path, contents: &[u8]) -> Result<(), StoreError> {
    stage(target, contents)?.commit()
}

/// Removes `target` under nothing but the caller's lock; `Ok(false)` when it was not there.
pub(crate) fn remove(target: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(target) {
        Ok(()) => {
            sync_dir(parent_of(target))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", target, e)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_bounded(&dir.path().join("nope")).unwrap().is_none());
    }

    #[test]
    fn nul_bytes_are_reported_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"a\nb\x00c\n").unwrap();
        match read_bounded(&path) {
            Err(StoreError::Corrupt { line, reason, .. }) => {
                assert_eq!(line, Some(2));
                assert!(reason.contains("NUL"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn invalid_utf8_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"a\nb\nc\xff\n").unwrap();
        match read_bounded(&path) {
            Err(StoreError::Corrupt { line, reason, .. }) => {
                assert_eq!(line, Some(3));
                assert!(reason.contains("UTF-8"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn oversized_file_is_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, vec![b'a'; MAX_FILE_SIZE as usize + 1]).unwrap();
        assert!(matches!(
            read_bounded(&path),
            Err(StoreError::TooLarge { size, limit: MAX_FILE_SIZE, .. }) if size == MAX_FILE_SIZE + 1
        ));
        fs::write(&path, vec![b'a'; MAX_FILE_SIZE as usize]).unwrap();
        assert!(read_bounded(&path).unwrap().is_some());
    }

    #[test]
    fn a_folder_is_not_a_credential_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_bounded(dir.path()),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn dropping_a_staged_write_leaves_target_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"old").unwrap();
        let staged = stage(&path, b"new").unwrap();
        let temp = staged.temp_path().to_owned();
        assert!(temp.exists());
        drop(staged);
        assert!(!temp.exists());
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn staged_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let a = stage(&path, b"a").unwrap();
        let b = stage(&path, b"b").unwrap();
        assert_ne!(a.temp_path(), b.temp_path());
        b.commit().unwrap();
        a.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a");
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
        assert!(matches!(
            read_bounded(&path),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(lock(&path).is_err());
    }

    #[test]
    fn nothing_is_made_beside_a_folder_or_a_nameless_path() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("sub");
        fs::create_dir(&folder).unwrap();
        assert!(lock(&folder).is_err());
        assert!(stage(&folder, b"x").is_err());
        assert!(lock(Path::new("/")).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn remove_reports_whether_the_file_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"x").unwrap();
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
    }
}
