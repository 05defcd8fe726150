//! Configuration of a [`HyperTransport`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use mastodon_auth_core::RequestTimeout;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::connect::{Connector, Dial};
use crate::error::BuildError;
use crate::proxy::{Environment, ProxySettings, Variables};
use crate::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL, DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_BODY_SIZE, DEFAULT_USER_AGENT, HyperTransport, Inner,
};

/// Builds a [`HyperTransport`]; start with [`HyperTransport::builder`].
///
/// Every problem (an unusable certificate or proxy URL, a bad user agent) is reported by
/// [`build`](Self::build) as a [`BuildError`], so the calls chain.
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_http::HyperTransport;
///
/// // A private instance whose certificate is signed by an in-house CA.
/// # let ca_pem: &[u8] = b"";
/// let builder = HyperTransport::builder()
///     .add_root_pem(ca_pem)
///     .request_timeout(Duration::from_secs(20));
/// // An empty PEM holds no certificate, which `build` reports.
/// assert!(builder.build().is_err());
/// ```
#[must_use]
pub struct HyperTransportBuilder {
    extra_roots: Vec<CertificateDer<'static>>,
    root_error: Option<BuildError>,
    webpki_roots: bool,
    #[cfg(feature = "native-roots")]
    native_roots: bool,
    connect_timeout: Duration,
    request_timeout: RequestTimeout,
    max_body_size: usize,
    user_agent: String,
    proxy: ProxySettings,
    http2_keep_alive: Http2KeepAlive,
}

/// HTTP/2 PING settings, as hyper-util's client builder takes them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Http2KeepAlive {
    pub(crate) interval: Option<Duration>,
    pub(crate) timeout: Duration,
    pub(crate) while_idle: bool,
}

impl Http2KeepAlive {
    /// A zero interval would PING without pause, and a zero timeout would close every
    /// connection at its first PING (a new connection per request): both are refused.
    fn check(&self) -> Result<(), BuildError> {
        if self.interval == Some(Duration::ZERO) {
            return Err(BuildError::ZeroDuration {
                setting: "http2_keep_alive_interval",
                instead: "None to turn pings off",
            });
        }
        if self.timeout.is_zero() {
            return Err(BuildError::ZeroDuration {
                setting: "http2_keep_alive_timeout",
                instead: "a few seconds",
            });
        }
        Ok(())
    }
}

impl fmt::Debug for HyperTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HyperTransportBuilder");
        d.field("extra_roots", &self.extra_roots.len())
            .field("webpki_roots", &self.webpki_roots);
        #[cfg(feature = "native-roots")]
        d.field("native_roots", &self.native_roots);
        d.field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout.0)
            .field("max_body_size", &self.max_body_size)
            .field("user_agent", &self.user_agent)
            .field("proxy", &self.proxy)
            .field("http2_keep_alive", &self.http2_keep_alive)
            .finish_non_exhaustive()
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
            request_timeout: RequestTimeout::DEFAULT,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            proxy: ProxySettings::default(),
            http2_keep_alive: Http2KeepAlive {
                interval: Some(DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL),
                timeout: DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT,
                while_idle: true,
            },
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
                    self.note_root_error(index, format!("the PEM could not be read: {e}"));
                    return self;
                }
            }
        }
        if found == 0 {
            self.note_root_error(index, "the PEM contains no CERTIFICATE block".to_owned());
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
    /// carries no [`RequestTimeout`] extension (default [`RequestTimeout::DEFAULT`], 300 s).
    /// A `Mastodon` client puts its own `request_timeout` in every request, which wins.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = RequestTimeout(timeout);
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

    /// Sends every request through the proxy at `url` (unless [`no_proxy`](Self::no_proxy)
    /// exempts its host), instead of one from the environment.
    ///
    /// `http://[user:password@]host[:port]` is an HTTP proxy: https targets are reached through
    /// a CONNECT tunnel, with TLS from end to end; plain-http targets (loopback, or any host for a request
    /// that carries [`AllowHttp`](mastodon_auth_core::AllowHttp)) are sent to it as absolute-form requests. The
    /// credentials, percent-encoded in the URL, go in a `Proxy-Authorization: Basic` header.
    /// `socks5://` (names resolved here) and `socks5h://` (names resolved by the proxy) are
    /// SOCKS5 proxies, with username/password authentication when the URL has credentials.
    /// A URL without a scheme is an HTTP proxy; the port defaults to 80, or 1080 for SOCKS5.
    ///
    /// The HTTPS-only policy applies to the target, not to the proxy. A loopback target is only
    /// proxied by a proxy on loopback too, since a proxy elsewhere cannot reach it.
    ///
    /// An unusable URL (another scheme, a path, no host) is reported by
    /// [`build`](Self::build) as [`BuildError::Proxy`], without the password.
    ///
    /// ```
    /// let transport = mastodon_auth_http::HyperTransport::builder()
    ///     .proxy("http://bot:s3cret@proxy.internal:3128")
    ///     .no_proxy("localhost, .internal")
    ///     .build()?;
    /// assert!(!format!("{transport:?}").contains("s3cret"));
    /// # Ok::<(), mastodon_auth_http::BuildError>(())
    /// ```
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy.explicit = Some(url.into());
        self
    }

    /// Hosts that bypass the proxy, in `NO_PROXY`'s comma-separated form: a domain also exempts
    /// its subdomains (`example.com`, `.example.com`), IP addresses and CIDR ranges
    /// (`10.0.0.0/8`) exempt themselves, `*` exempts everything. Replaces `NO_PROXY` from the
    /// environment, and applies to [`proxy`](Self::proxy) too.
    pub fn no_proxy(mut self, hosts: impl Into<String>) -> Self {
        self.proxy.no_proxy = Some(hosts.into());
        self
    }

    /// Whether to take the proxy from the environment when [`proxy`](Self::proxy) is not set
    /// (default: yes). The variables are those curl reads, lower case winning over upper case:
    /// `https_proxy` for https targets, `http_proxy` for plain-http ones, `all_proxy` for both
    /// when the specific one is unset, and `no_proxy` for exemptions (see
    /// [`no_proxy`](Self::no_proxy)). Under CGI (`REQUEST_METHOD` set) the upper-case
    /// `HTTP_PROXY` is ignored, since a request's `Proxy:` header sets it (httpoxy). They are
    /// read by [`build`](Self::build).
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.proxy.environment = if enabled {
            Environment::Process
        } else {
            Environment::Ignored
        };
        self
    }

    /// Like [`proxy_from_env(true)`](Self::proxy_from_env), but reads the variables through
    /// `lookup` (called now, with each variable name) instead of the process environment:
    /// for configuration kept elsewhere, and for tests, which must not change the environment
    /// of a multi-threaded process.
    ///
    /// ```
    /// let transport = mastodon_auth_http::HyperTransport::builder()
    ///     .proxy_from_env_with(|name| match name {
    ///         "HTTPS_PROXY" => Some("http://127.0.0.1:3128".to_owned()),
    ///         "NO_PROXY" => Some("localhost".to_owned()),
    ///         _ => None,
    ///     })
    ///     .build()?;
    /// # drop(transport);
    /// # Ok::<(), mastodon_auth_http::BuildError>(())
    /// ```
    pub fn proxy_from_env_with(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        self.proxy.environment = Environment::Captured(Variables::read(lookup));
        self
    }

    /// How often to send an HTTP/2 PING on an open connection (default 30 s; `None` turns
    /// pings off; zero is refused by [`build`](Self::build)). A connection whose PING is not answered within
    /// [`http2_keep_alive_timeout`](Self::http2_keep_alive_timeout) is closed, so one silently
    /// dropped by a NAT or a firewall is found out before a request waits on it.
    pub fn http2_keep_alive_interval(mut self, interval: Option<Duration>) -> Self {
        self.http2_keep_alive.interval = interval;
        self
    }

    /// How long to wait for the answer to a PING before closing the connection (default 10 s;
    /// zero is refused by [`build`](Self::build)).
    pub fn http2_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.http2_keep_alive.timeout = timeout;
        self
    }

    /// Whether to PING idle pooled connections too (default: yes), not only those with a
    /// request in flight. Without it, a dead idle connection is found out only when the next
    /// request is sent on it.
    pub fn http2_keep_alive_while_idle(mut self, enabled: bool) -> Self {
        self.http2_keep_alive.while_idle = enabled;
        self
    }

    fn note_root_error(&mut self, index: usize, reason: String) {
        self.root_error
            .get_or_insert(BuildError::RootCertificate { index, reason });
    }

    fn root_store(&self) -> Result<RootCertStore, BuildError> {
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
            roots
                .add(cert.clone())
                .map_err(|e| BuildError::RootCertificate {
                    index: i + 1,
                    reason: format!("not a usable CA certificate: {e}"),
                })?;
        }
        if roots.is_empty() {
            return Err(BuildError::NoRootCertificates);
        }
        Ok(roots)
    }

    /// Builds the transport, reading the proxy environment variables unless a proxy was set
    /// or the environment turned off. Fails if an added certificate is unusable, if no root is
    /// trusted at all, if the user agent is not a valid header value, or if a proxy URL is
    /// unusable.
    pub fn build(self) -> Result<HyperTransport, BuildError> {
        if let Some(err) = &self.root_error {
            return Err(err.clone());
        }
        let user_agent =
            HeaderValue::from_str(&self.user_agent).map_err(|_| BuildError::UserAgent {
                value: self.user_agent.clone(),
            })?;
        let routes = self.proxy.routes()?.map(Arc::new);
        let roots = self.root_store()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BuildError::Tls {
                message: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(Dial::new(routes.clone()));
        let connector = Connector {
            tls: https,
            connect_timeout: self.connect_timeout,
        };
        let keep_alive = self.http2_keep_alive;
        keep_alive.check()?;
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .http2_keep_alive_interval(keep_alive.interval)
            .http2_keep_alive_timeout(keep_alive.timeout)
            .http2_keep_alive_while_idle(keep_alive.while_idle)
            .build(connector);
        Ok(HyperTransport {
            inner: Arc::new(Inner {
                client,
                request_timeout: self.request_timeout,
                connect_timeout: self.connect_timeout,
                max_body_size: self.max_body_size,
                user_agent,
                routes,
                http2_keep_alive: keep_alive,
            }),
        })
    }
}
