//! Extra trust roots for private instances: `--ca-cert`, and the certificate remembered for an
//! instance when a login with `--ca-cert` succeeds (`<config>/ca-certs/<instance>.pem`), used
//! by every later command that connects to that instance.

use std::io::Read;
use std::path::{Path, PathBuf};

use mastodon_auth::InstanceUrl;
use mastodon_auth::store::atomic;

use super::failure::{Exit, Failure};

/// No CA certificate file is anywhere near this size.
const MAX_PEM: u64 = 1024 * 1024;

/// Reads a PEM file: a regular file (never a pipe or a device, which could block or never
/// end), at most [`MAX_PEM`] bytes, holding a certificate. `exit` is the code for a bad file:
/// usage for `--ca-cert`, other for a remembered one.
pub(crate) fn read_pem(path: &Path, exit: Exit) -> Result<Vec<u8>, Failure> {
    let fail =
        |why: String| Failure::new(exit, format!("CA certificate {}: {why}", path.display()));
    // Look before opening: opening a named pipe blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut pem = Vec::new();
    file.take(MAX_PEM + 1)
        .read_to_end(&mut pem)
        .map_err(|e| fail(e.to_string()))?;
    if pem.len() as u64 > MAX_PEM {
        return Err(fail(
            "larger than 1 MiB, too large for a certificate".into(),
        ));
    }
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(fail(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        ));
    }
    Ok(pem)
}

/// Where the certificate for `instance` is remembered.
fn remembered_path(config: &Path, instance: &InstanceUrl) -> PathBuf {
    let name: String = instance
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    config.join("ca-certs").join(format!("{name}.pem"))
}

/// The certificate remembered for `instance`, if any.
pub(crate) fn remembered(
    config: &Path,
    instance: &InstanceUrl,
) -> Result<Option<Vec<u8>>, Failure> {
    let path = remembered_path(config, instance);
    if !path.exists() {
        return Ok(None);
    }
    read_pem(&path, Exit::Other).map(Some)
}

/// Remembers `pem` for `instance` (replacing an earlier one).
pub(crate) fn remember(config: &Path, instance: &InstanceUrl, pem: &[u8]) -> Result<(), Failure> {
    let path = remembered_path(config, instance);
    if let Some(dir) = path.parent() {
        atomic::create_private_dirs(dir)?;
    }
    atomic::write_atomic(&path, pem)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_instance_has_its_own_file() {
        let config = Path::new("/c");
        let a = remembered_path(
            config,
            &InstanceUrl::parse("https://127.0.0.1:3000").unwrap(),
        );
        let b = remembered_path(
            config,
            &InstanceUrl::parse("http://127.0.0.1:3000").unwrap(),
        );
        assert_eq!(a, Path::new("/c/ca-certs/https___127.0.0.1_3000.pem"));
        assert_ne!(a, b);
    }
}
