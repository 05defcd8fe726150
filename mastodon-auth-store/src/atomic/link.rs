//! Following a symbolic link to the file a write must replace.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use mastodon_auth_core::StoreError;

use super::{corrupt, io_err, parent_of};

/// How many links in a row are followed before the chain counts as a loop (Linux's limit).
const MAX_LINKS: usize = 40;

/// The file that writing to `path` must replace: `path` itself, or, when `path` is a symbolic
/// link (a credential file kept in a dotfiles folder, say), the file at the end of its chain of
/// links. A link to a file that does not exist yet resolves to where that file would be, as
/// `open(…, O_CREAT)` would create it.
///
/// Renaming a new file over a link would replace the link and leave its target stale; writing
/// beside the target and renaming there keeps the link. Links in the folders above are left
/// alone: a rename inside one folder works whatever way the folder was reached.
pub(crate) fn final_target(path: &Path) -> Result<PathBuf, StoreError> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let to = fs::read_link(&current)
                    .map_err(|e| io_err("read the symbolic link", &current, e))?;
                // A relative link is relative to the folder holding the link; an absolute one
                // replaces the whole path when joined.
                current = parent_of(&current).join(to);
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(io_err("inspect", &current, e)),
        }
    }
    Err(corrupt(
        path,
        None,
        format!("is a loop of symbolic links (or a chain of more than {MAX_LINKS})"),
    ))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn a_plain_or_missing_file_is_its_own_target() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        assert_eq!(final_target(&file).unwrap(), file);
        fs::write(&file, b"x").unwrap();
        assert_eq!(final_target(&file).unwrap(), file);
    }

    #[test]
    fn chains_of_relative_and_absolute_links_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("dots")).unwrap();
        let real = dir.path().join("dots/accounts.json");
        symlink("dots/accounts.json", dir.path().join("a")).unwrap();
        symlink(dir.path().join("a"), dir.path().join("b")).unwrap();
        // Dangling: the target does not exist yet.
        assert_eq!(
            final_target(&dir.path().join("b")).unwrap(),
            dir.path().join("dots/accounts.json")
        );
        fs::write(&real, b"{}").unwrap();
        assert_eq!(
            fs::canonicalize(final_target(&dir.path().join("b")).unwrap()).unwrap(),
            fs::canonicalize(&real).unwrap()
        );
    }

    #[test]
    fn a_loop_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        assert!(matches!(
            final_target(&dir.path().join("a")),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
