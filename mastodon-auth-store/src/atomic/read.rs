//! Bounded reads of credential files.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use mastodon_auth_core::StoreError;

use super::{corrupt, io_err};

/// The largest credential file the stores read (16 MiB: an accounts file with 10,000 accounts
/// is about 2.7 MB); anything bigger is [`StoreError::TooLarge`], so a wrong path (a disk
/// image, a log) is refused instead of read into memory.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// The UTF-8 byte order mark some Windows editors put at the start of a text file.
const BOM: &str = "\u{feff}";

/// Reads a credential file as text. A missing file is `Ok(None)`. A UTF-8 byte order mark at
/// the start is dropped: it is how some editors save text, not part of the content.
///
/// # Errors
/// [`StoreError::TooLarge`] above [`MAX_FILE_SIZE`]; [`StoreError::Corrupt`] (with the line)
/// for a file that is not a regular file, holds NUL bytes or is not UTF-8;
/// [`StoreError::Io`] when it cannot be read.
pub fn read_bounded(path: &Path) -> Result<Option<String>, StoreError> {
    // Look before opening: opening a named pipe for reading would block until a writer came.
    if !check_target(path)? {
        return Ok(None);
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
        return Err(too_large(path, meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow between metadata() and read(): never read more than the limit + 1.
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err("read", path, e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large(path, bytes.len() as u64));
    }
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(corrupt(
            path,
            Some(line_of(&bytes, pos)),
            "contains NUL bytes: this is a binary file, not a credential file",
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(match text.strip_prefix(BOM) {
            Some(rest) => rest.to_owned(),
            None => text,
        })),
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

fn too_large(path: &Path, size: u64) -> StoreError {
    StoreError::TooLarge {
        path: path.to_owned(),
        size,
        limit: MAX_FILE_SIZE,
    }
}

fn not_regular(path: &Path) -> StoreError {
    corrupt(
        path,
        None,
        "is not a regular file (a folder, a pipe or a device?)",
    )
}

/// `Ok(true)` when `target` is a regular file (or a link to one), `Ok(false)` when nothing is
/// there; an error for anything else (a folder, a device, a path without a file name), before
/// any lock file or temporary file is made beside it.
pub(super) fn check_target(target: &Path) -> Result<bool, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_bounded(&dir.path().join("nope")).unwrap().is_none());
    }

    #[test]
    fn a_byte_order_mark_is_dropped_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "\u{feff}\u{feff}text\n").unwrap();
        assert_eq!(
            read_bounded(&path).unwrap().as_deref(),
            Some("\u{feff}text\n")
        );
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
        fs::write(
            &path,
            vec![b'a'; usize::try_from(MAX_FILE_SIZE).unwrap() + 1],
        )
        .unwrap();
        assert!(matches!(
            read_bounded(&path),
            Err(StoreError::TooLarge { size, limit: MAX_FILE_SIZE, .. }) if size == MAX_FILE_SIZE + 1
        ));
        fs::write(&path, vec![b'a'; usize::try_from(MAX_FILE_SIZE).unwrap()]).unwrap();
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
}
