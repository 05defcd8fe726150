//! What every example needs first: an instance to talk to (the embedded [`LocalInstance`] by
//! default, or a real server given with `--instance URL`) and a transport that trusts it.

use mastodon_auth::HyperTransport;
use mastodon_auth_tests::{LocalInstance, LocalInstanceBuilder};

/// The instance an example runs against.
pub(crate) struct Target {
    /// Its base URL.
    pub base_url: String,
    /// A transport that trusts it.
    pub transport: HyperTransport,
    /// The embedded instance, when no `--instance` was given (kept alive for the example;
    /// not every example reads it).
    #[allow(dead_code)]
    pub local: Option<LocalInstance>,
}

/// Reads `--instance URL` from the process arguments; without it, starts a [`LocalInstance`]
/// over HTTPS and trusts its test CA.
///
/// # Errors
/// A message for the person running the example.
#[allow(dead_code)] // not by `fleet`, which has arguments of its own (and calls `target_at`)
pub(crate) async fn target() -> Result<Target, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let instance = match args.as_slice() {
        [] => None,
        [flag, url] if flag == "--instance" => Some(url.clone()),
        [arg] if arg.starts_with("--instance=") => Some(arg["--instance=".len()..].to_owned()),
        _ => return Err("usage: [--instance URL]".into()),
    };
    target_at(instance, LocalInstance::builder()).await
}

/// The instance at `instance`; without one, starts `local` over HTTPS and trusts its test CA.
///
/// # Errors
/// A message for the person running the example.
pub(crate) async fn target_at(
    instance: Option<String>,
    local: LocalInstanceBuilder,
) -> Result<Target, String> {
    if let Some(base_url) = instance {
        let transport = HyperTransport::new().map_err(|e| e.to_string())?;
        Ok(Target {
            base_url,
            transport,
            local: None,
        })
    } else {
        let local = local
            .https(true)
            .start()
            .await
            .map_err(|e| format!("cannot start the local instance: {e}"))?;
        let transport = HyperTransport::builder()
            .add_root_pem(local.ca_certificate_pem().as_bytes())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Target {
            base_url: local.base_url(),
            transport,
            local: Some(local),
        })
    }
}
