//! Configuration of a [`HyperTransport`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use mastodon_auth_core::TransportError;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::connect::{Connector, TcpStage};
use crate::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, DEFAULT_USER_AGENT,
    HyperTransport, Inner,
};

/// Builds a [`HyperTransport`]; start with [`HyperTransport::builder`].
///
/// Certificate parsing problems are reported by [`build`](Self::build), so the calls chain.
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_http::HyperTransport;
///
/// // A private instance whose certificate is signed by an in-house CA.
/// # let ca_pem: &[u8] = b"";
/// let builder = HyperTransport::builder()
///     .add_root_pem(ca_pem)
///     .default_timeout(Duration::from_secs(20));
/// // An empty PEM holds no certificate, which `build` reports.
/// assert!(builder.build().is_err());
/// ```
#[must_use]
pub struct HyperTransportBuilder {
    extra_roots: Vec<CertificateDer<'static>>,
    root_error: Option<String>,
    webpki_roots: bool,
    #[cfg(feature = "native-roots")]
    native_roots: bool,
    connect_timeout: Duration,
    default_timeout: Duration,
    max_body_size: usize,
    user_agent: String,
    allow_http: bool,
}

impl fmt::Debug for HyperTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HyperTransportBuilder");
        d.field("extra_roots", &self.extra_roots.len())
            .field("webpki_roots", &self.webpki_roots);
        #[cfg(feature = "native-roots")]
        d.field("native_roots", &self.native_roots);
        d.field("connect_timeout", &self.connect_timeout)
            .field("default_timeout", &self.default_timeout)
            .field("max_body_size", &self.max_body_size)
            .field("user_agent", &self.user_agent)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HyperTransportBuilder {
    /// The defaults, as [`HyperTransport::new`] uses them.
    pub fn new() -> Self {
        HyperTransportBuilder {
            extra_roots: Vec::new(),
            root_error: None,
            webpki_roots: true,
            #[cfg(feature = "native-roots")]
            native_roots: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            default_timeout: DEFAULT_TIMEOUT,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            allow_http: false,
        }
    }

    /// Also trusts the CA certificates in `pem` (one or more `CERTIFICATE` blocks), for
    /// private instances and tests. A PEM without any certificate is reported by `build`.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Self {
        let index = self.extra_roots.len() + 1;
        let mut found = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            match cert {
                Ok(cert) => {
                    self.extra_roots.push(cert);
                    found += 1;
                }
                Err(e) => {
                    self.note_root_error(format!(
                        "extra root certificate #{index}: the PEM could not be read: {e}"
                    ));
                    return self;
                }
            }
        }
        if found == 0 {
            self.note_root_error(format!(
                "extra root certificate #{index}: the PEM contains no CERTIFICATE block"
            ));
        }
        self
    }

    /// Also trusts the DER-encoded CA certificate `der`.
    pub fn add_root_der(mut self, der: &[u8]) -> Self {
        self.extra_roots.push(CertificateDer::from(der.to_vec()));
        self
    }

    /// Whether to trust the Mozilla roots bundled through `webpki-roots` (default: yes).
    /// Turn off to trust only the certificates added here (and native roots, if enabled).
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// Whether to trust the operating system's roots (default: yes, when the `native-roots`
    /// feature is enabled).
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.native_roots = enabled;
        self
    }

    /// The time allowed for DNS, TCP and TLS together (default 30 s); exceeding it gives
    /// `TransportError::Timeout { phase: Connect, .. }`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The time allowed for a whole request (connect, headers and body) when the request
    /// carries no [`RequestTimeout`](mastodon_auth_core::RequestTimeout) extension
    /// (default 300 s).
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes (default 8 MiB); a larger one gives
    /// `TransportError::BodyTooLarge` without being read past the cap.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// The `User-Agent` sent when a request has none (default `mastodon-auth/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Allows plain `http://` to any host (default: only to loopback hosts: `localhost`,
    /// `127.0.0.0/8`, `[::1]`). Tokens and passwords would travel unencrypted: meant for test
    /// setups behind a trusted proxy. `MastodonBuilder::allow_http` is the same opt-in for the
    /// OAuth endpoints a server's metadata names; a development server on another machine
    /// needs both.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    fn note_root_error(&mut self, message: String) {
        self.root_error.get_or_insert(message);
    }

    fn root_store(&self) -> Result<RootCertStore, TransportError> {
        let mut roots = RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(feature = "native-roots")]
        if self.native_roots {
            // Unreadable system certificates are skipped: one bad file in the system store
            // should not make every instance unreachable.
            let native = rustls_native_certs::load_native_certs();
            let _ = roots.add_parsable_certificates(native.certs);
        }
        for (i, cert) in self.extra_roots.iter().enumerate() {
            roots.add(cert.clone()).map_err(|e| {
                TransportError::Other(format!(
                    "extra root certificate #{} is not a usable CA certificate: {e}",
                    i + 1
                ))
            })?;
        }
        if roots.is_empty() {
            return Err(TransportError::Other(
                "no trusted root certificates: enable webpki roots or add a CA certificate"
                    .to_owned(),
            ));
        }
        Ok(roots)
    }

    /// Builds the transport. Fails if an added certificate is unusable, if no root is
    /// trusted at all, or if the user agent is not a valid header value.
    pub fn build(self) -> Result<HyperTransport, TransportError> {
        if let Some(message) = &self.root_error {
            return Err(TransportError::Other(message.clone()));
        }
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            TransportError::InvalidRequest(
                "the user agent contains characters not allowed in an HTTP header".to_owned(),
            )
        })?;
        let roots = self.root_store()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TransportError::Other(format!("TLS configuration failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(TcpStage::new());
        let connector = Connector {
            tls: https,
            connect_timeout: self.connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(HyperTransport {
            inner: Arc::new(Inner {
                client,
                default_timeout: self.default_timeout,
                connect_timeout: self.connect_timeout,
                max_body_size: self.max_body_size,
                user_agent,
                allow_http: self.allow_http,
            }),
        })
    }
}
