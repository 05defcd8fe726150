//! Atomic, private writes: a temporary file beside the target, renamed over it.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mastodon_auth_core::StoreError;

use super::read::check_target;
use super::{DIR_MODE, FILE_MODE, io_err, link, parent_of};

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

pub(super) fn private_open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(FILE_MODE);
    }
    options
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary files of `target` are `.<name>.<pid>-<counter>-<nanos>.tmp` beside it: hidden,
/// unique across processes and threads, and recognisable when a dead writer left one behind.
fn temp_name(target: &Path) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(format!(".{}-{n}-{nanos:08x}.tmp", std::process::id()));
    target.with_file_name(name)
}

/// Whether `name` is one of [`temp_name`]'s names for the file `target_name`.
fn is_temp_of(name: &str, target_name: &str) -> bool {
    let Some(tag) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_prefix(target_name))
        .and_then(|n| n.strip_prefix('.'))
        .and_then(|n| n.strip_suffix(".tmp"))
    else {
        return false;
    };
    let parts: Vec<&str> = tag.split('-').collect();
    matches!(parts.as_slice(), [pid, n, nanos]
        if pid.bytes().all(|b| b.is_ascii_digit()) && !pid.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty()
            && nanos.bytes().all(|b| b.is_ascii_hexdigit()) && !nanos.is_empty())
}

/// Removes the temporary files of `target` that no live writer holds: those left by a writer
/// killed between [`stage`] and [`StagedWrite::commit`]. A writer keeps a lock on its
/// temporary file until the rename, and the operating system releases it when the writer
/// dies, so a temporary file whose lock can be taken is an orphan. Best effort: a file that
/// cannot be examined or removed is left for the next time, never an error.
pub(super) fn sweep_stale_temps(target: &Path) {
    let Some(target_name) = target.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let dir = match parent_of(target) {
        d if d.as_os_str().is_empty() => Path::new("."),
        d => d,
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| is_temp_of(n, target_name)) {
            continue;
        }
        let path = entry.path();
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let orphan = File::open(&path).is_ok_and(|f| f.try_lock().is_ok());
        if orphan {
            let _ = fs::remove_file(&path);
        }
    }
}

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
    /// Open and locked until the rename, which marks the temporary file as in use (see
    /// [`sweep_stale_temps`]).
    file: File,
    done: bool,
}

impl StagedWrite {
    /// The temporary file holding the new content.
    #[must_use]
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The file that [`commit`](Self::commit) replaces: the path given to [`stage`], or the
    /// file it leads to when it is a symbolic link.
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
        let _ = self.file.unlock();
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
/// flushes it to disk; creates missing parent folders with mode 0700. When `target` is a
/// symbolic link, the temporary file goes beside the file it leads to, which
/// [`commit`](StagedWrite::commit) then replaces: the link stays.
///
/// Call it under [`lock`](super::lock): a writer that holds the lock removes the temporary
/// files of dead writers, and a temporary file created by a writer without the lock could
/// be taken for one in the instant before it is locked.
///
/// # Errors
/// [`StoreError::Io`] naming the folder or temporary file that failed;
/// [`StoreError::Corrupt`] when `target` exists but is not a regular file.
pub fn stage(target: &Path, contents: &[u8]) -> Result<StagedWrite, StoreError> {
    check_target(target)?;
    let target = link::final_target(target)?;
    create_private_dirs(parent_of(&target))?;
    let (temp, file) = loop {
        let temp = temp_name(&target);
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
    let mut staged = StagedWrite {
        temp,
        target,
        file,
        done: false,
    };
    let temp = &staged.temp;
    staged.file.lock().map_err(|e| io_err("lock", temp, e))?;
    // The umask may have taken bits away (even the owner's write bit): make the mode exact.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        staged
            .file
            .set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(|e| io_err("set permissions of", temp, e))?;
    }
    staged
        .file
        .write_all(contents)
        .map_err(|e| io_err("write", temp, e))?;
    staged
        .file
        .sync_all()
        .map_err(|e| io_err("flush", temp, e))?;
    Ok(staged)
}

/// [`stage`] then [`StagedWrite::commit`]: replaces `target` (or, when it is a symbolic link,
/// the file it leads to) with `contents` atomically.
///
/// # Errors
/// See [`stage`] and [`StagedWrite::commit`].
pub fn write_atomic(target: &Path, contents: &[u8]) -> Result<(), StoreError> {
    stage(target, contents)?.commit()
}

/// Removes `target` (the file it leads to, when it is a symbolic link: the link stays and
/// the secret goes) under nothing but the caller's lock; `Ok(false)` when it was not there.
pub(crate) fn remove(target: &Path) -> Result<bool, StoreError> {
    let target = link::final_target(target)?;
    match fs::remove_file(&target) {
        Ok(()) => {
            sync_dir(parent_of(&target))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", &target, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn temporary_names_are_recognised_and_nothing_else() {
        let target = Path::new("/x/accounts.json");
        let temp = temp_name(target);
        let name = temp.file_name().unwrap().to_str().unwrap();
        assert!(is_temp_of(name, "accounts.json"), "{name}");
        for other in [
            "accounts.json",
            ".accounts.json.tmp",
            ".accounts.json.1-2-x.tmp",
            ".accounts.json.1-2.tmp",
            ".other.json.1-2-ab.tmp",
            ".accounts.json.1-2-ab.tmp.bak",
        ] {
            assert!(!is_temp_of(other, "accounts.json"), "{other}");
        }
    }

    #[test]
    fn a_sweep_removes_orphans_and_keeps_live_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let live = stage(&path, b"live").unwrap();
        let orphan = dir.path().join(".f.999999-0-0abc.tmp");
        fs::write(&orphan, b"secret").unwrap();
        let unrelated = dir.path().join(".g.999999-0-0abc.tmp");
        fs::write(&unrelated, b"x").unwrap();
        sweep_stale_temps(&path);
        assert!(!orphan.exists());
        assert!(live.temp_path().exists());
        assert!(unrelated.exists());
        live.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"live");
    }

    #[test]
    fn a_sweep_without_a_folder_or_a_name_does_nothing() {
        sweep_stale_temps(Path::new("/"));
        sweep_stale_temps(Path::new("/nonexistent-folder-for-mastodon-auth/f"));
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
