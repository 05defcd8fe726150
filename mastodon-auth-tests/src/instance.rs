//! [`LocalInstance`]: the Mastodon-compatible server itself.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio_rustls::TlsAcceptor;

// The server's parts: one module per endpoint family, plus the state they share.
mod api;
mod apps;
mod clock;
mod fault;
mod handler;
mod oauth;
mod params;
mod profile;
mod random;
mod sign_in;
// The replay server redacts what it records the same way.
pub(crate) mod record;
mod state;
mod throttle;
mod uri;
mod visit;

pub use fault::Fault;
pub use oauth::{Approval, AuthorizeError};
pub use profile::Profile;
pub use record::{REDACTED, RecordedRequest};
pub use state::TestUser;
pub use visit::visit_loopback;

use crate::server::reply::{Body, Reply};
use crate::server::{self, DropConnection, Handler, RespBody, ServerTask};
use crate::tls;
use crate::tls::CertificateError;
use fault::FaultRule;
use handler::Req;
use params::Params;
use record::{redact_header, redact_param};
use state::{Config, Shared, Throttle, now};

/// Request bodies above this are refused (413); nothing in the auth API comes close.
const MAX_BODY: usize = 1 << 20;

/// The local instance could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// Binding the loopback listener failed.
    Bind(std::io::Error),
    /// Generating the test CA or the server certificate, or loading it into rustls, failed.
    Certificate(CertificateError),
}

impl From<CertificateError> for StartError {
    fn from(e: CertificateError) -> Self {
        Self::Certificate(e)
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "local instance: cannot listen on 127.0.0.1: {e}"),
            Self::Certificate(e) => write!(f, "local instance: TLS setup failed: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind(e) => Some(e),
            Self::Certificate(e) => Some(e),
        }
    }
}

/// Settings for [`LocalInstance`]; see [`LocalInstance::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct LocalInstanceBuilder {
    profile: Profile,
    https: bool,
    api_throttle: Throttle,
    apps_throttle: Throttle,
    token_lifetime: Duration,
    version: Option<String>,
    record_requests: bool,
    auto_approve: bool,
    port: u16,
}

impl Default for LocalInstanceBuilder {
    fn default() -> Self {
        Self {
            profile: Profile::Current,
            https: true,
            api_throttle: Throttle {
                limit: 300,
                period: Duration::from_secs(300),
            },
            apps_throttle: Throttle {
                limit: 5,
                period: Duration::from_secs(600),
            },
            token_lifetime: Duration::from_secs(600),
            version: None,
            record_requests: true,
            auto_approve: false,
            port: 0,
        }
    }
}

impl LocalInstanceBuilder {
    /// Which server release to imitate (default [`Profile::Current`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// HTTPS with the generated test CA (default), or plain HTTP.
    pub fn https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// The `/api` throttles, per token and per anonymous IP (default 300 per 5 minutes).
    /// Windows are aligned to multiples of `window` since the epoch, as rack-attack's are;
    /// `window` is rounded down to whole seconds (at least one).
    pub fn rate_limit(mut self, limit: u32, window: Duration) -> Self {
        self.api_throttle = Throttle {
            limit,
            period: window,
        };
        self
    }

    /// The `POST /api/v1/apps` throttle per IP (default 5 per 10 minutes, Mastodon 4.3+).
    pub fn app_registration_limit(mut self, limit: u32, window: Duration) -> Self {
        self.apps_throttle = Throttle {
            limit,
            period: window,
        };
        self
    }

    /// How long Pleroma-profile tokens live before they must be refreshed (default 600 s).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Whether [`LocalInstance::requests`] keeps every request (default `true`). A server that
    /// answers millions of requests (a benchmark) turns it off: the log grows without bound,
    /// and copying each request's headers into it costs the server more for a client that
    /// sends more headers, which would skew a comparison between clients.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mastodon_auth_tests::StartError> {
    /// let instance = mastodon_auth_tests::LocalInstance::builder()
    ///     .https(false)
    ///     .record_requests(false)
    ///     .start()
    ///     .await?;
    /// # drop(instance);
    /// # Ok(())
    /// # }
    /// ```
    pub fn record_requests(mut self, record: bool) -> Self {
        self.record_requests = record;
        self
    }

    /// Approve every authorization at once, as if the test user had signed in and pressed
    /// "Authorize": `GET /oauth/authorize` redirects straight to the app. For scripts that
    /// drive a login over HTTP without a browser. Without it (the default) a browser gets
    /// Mastodon's sign-in page (the [`user`](LocalInstance::user)'s e-mail and password) and
    /// then the approval page.
    pub fn auto_approve(mut self, auto_approve: bool) -> Self {
        self.auto_approve = auto_approve;
        self
    }

    /// Listens on this port of `127.0.0.1` instead of a free one (a development server
    /// people point a client at again and again); 0 picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Overrides the `version` the instance documents report (for version-parsing tests),
    /// e.g. `"4.5.0-beta.1"` or `"4.3.0+glitch"`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Binds `127.0.0.1` on a free port and starts serving.
    ///
    /// # Errors
    /// [`StartError`] when the port cannot be bound or TLS cannot be set up.
    pub async fn start(self) -> Result<LocalInstance, StartError> {
        let pki = tls::generate()?;
        let listener_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        // The base URL contains the port, which is known only after binding; the handler
        // reads the configuration through this cell, filled before the first request.
        let cell = Arc::new(InstanceHandler {
            shared: std::sync::OnceLock::new(),
        });
        let acceptor = self
            .https
            .then(|| TlsAcceptor::from(pki.server_config.clone()));
        let server = server::spawn(cell.clone(), acceptor, listener_addr)
            .await
            .map_err(StartError::Bind)?;
        let scheme = if self.https { "https" } else { "http" };
        let domain = server.addr.to_string();
        let config = Config {
            profile: self.profile,
            version: self
                .version
                .unwrap_or_else(|| self.profile.version().to_owned()),
            base_url: format!("{scheme}://{domain}"),
            domain,
            api_throttle: self.api_throttle,
            apps_throttle: self.apps_throttle,
            token_lifetime: self.token_lifetime,
            record_requests: self.record_requests,
            user: TestUser::default(),
            auto_approve: self.auto_approve,
        };
        let shared = Arc::new(Shared::new(config));
        // Set exactly once, right here; nothing else writes the cell.
        let _ = cell.shared.set(shared.clone());
        Ok(LocalInstance {
            shared,
            server: Some(server),
            ca_pem: pki.ca_pem,
        })
    }
}

/// A Mastodon-compatible server on `127.0.0.1` for end-to-end tests of OAuth clients.
///
/// It serves app registration, the token and revocation endpoints, the credential checks,
/// the OAuth metadata and the instance documents with the statuses, error strings, headers
/// and JSON key order of real Mastodon (by default 4.7.3; see [`Profile`] for older releases
/// and other servers), over HTTPS with a CA generated at start, or over plain HTTP.
/// Signing in happens through [`approve`](Self::approve) instead of a browser.
///
/// ```
/// use mastodon_auth_tests::{Approval, LocalInstance};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let instance = LocalInstance::start().await?;
/// // Trust `instance.ca_certificate_pem()` in the client under test and point it at
/// // `instance.base_url()`; here we only peek at what the server offers.
/// assert!(instance.base_url().starts_with("https://127.0.0.1:"));
/// assert!(instance.ca_certificate_pem().contains("BEGIN CERTIFICATE"));
///
/// // The client registers an app and builds an authorization URL; the test then plays the
/// // user in the browser:
/// # let client_id = "not-registered";
/// let url = format!(
///     "{}/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri=urn:ietf:wg:oauth:2.0:oob",
///     instance.base_url()
/// );
/// match instance.approve(&url) {
///     Ok(Approval::OutOfBand { code }) => { /* hand `code` to the client */ }
///     Ok(other) => println!("{other:?}"),
///     Err(e) => assert_eq!(e.error, "invalid_client"),
/// }
/// instance.shutdown().await;
/// # Ok(()) }
/// ```
pub struct LocalInstance {
    shared: Arc<Shared>,
    server: Option<ServerTask>,
    ca_pem: String,
}

impl fmt::Debug for LocalInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalInstance")
            .field("base_url", &self.shared.config.base_url)
            .field("profile", &self.shared.config.profile)
            .finish_non_exhaustive()
    }
}

impl LocalInstance {
    /// Starts an HTTPS instance with the current Mastodon profile and default limits.
    ///
    /// # Errors
    /// [`StartError`] when the port cannot be bound or TLS cannot be set up.
    pub async fn start() -> Result<Self, StartError> {
        Self::builder().start().await
    }

    /// Settings: profile, HTTPS, rate limits, token lifetime, version.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mastodon_auth_tests::{LocalInstance, Profile};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), mastodon_auth_tests::StartError> {
    /// let instance = LocalInstance::builder()
    ///     .profile(Profile::Mastodon4_3)
    ///     .https(false)
    ///     .rate_limit(3, Duration::from_secs(300))
    ///     .start()
    ///     .await?;
    /// assert!(instance.base_url().starts_with("http://127.0.0.1:"));
    /// # Ok(()) }
    /// ```
    pub fn builder() -> LocalInstanceBuilder {
        LocalInstanceBuilder::default()
    }

    /// `https://127.0.0.1:PORT` (or `http://`), without a trailing slash.
    #[must_use]
    pub fn base_url(&self) -> String {
        self.shared.config.base_url.clone()
    }

    /// The listening address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .map_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), |s| s.addr)
    }

    /// PEM of the test CA that signed the server certificate (valid for `localhost`,
    /// `127.0.0.1` and `::1`). A plain-HTTP instance has one too, unused.
    #[must_use]
    pub fn ca_certificate_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The profile this instance imitates.
    #[must_use]
    pub fn profile(&self) -> Profile {
        self.shared.config.profile
    }

    /// The account that signs in through [`approve`](Self::approve) and the password grant.
    #[must_use]
    pub fn user(&self) -> &TestUser {
        &self.shared.config.user
    }

    /// Plays the user: signs the default user in and presses "Authorize" for this
    /// authorization URL, after validating its query exactly as `GET /oauth/authorize` would
    /// (client, redirect URI, response type and mode, scopes, PKCE method).
    ///
    /// # Errors
    /// [`AuthorizeError`] with the error the consent page would show.
    pub fn approve(&self, authorize_url: &str) -> Result<Approval, AuthorizeError> {
        oauth::authorize(&self.shared, &mut self.shared.lock(), authorize_url, true)
    }

    /// Like [`approve`](Self::approve) but presses "Deny": a redirect with
    /// `error=access_denied`, or [`Approval::OutOfBandDenied`] for OOB.
    ///
    /// # Errors
    /// [`AuthorizeError`] when the request itself is invalid.
    pub fn deny(&self, authorize_url: &str) -> Result<Approval, AuthorizeError> {
        oauth::authorize(&self.shared, &mut self.shared.lock(), authorize_url, false)
    }

    /// Applies `fault` to the next `times` requests, whatever their path.
    pub fn inject(&self, fault: Fault, times: usize) {
        self.push_fault(None, fault, times);
    }

    /// Applies `fault` to the next `times` requests for exactly this path (no query).
    pub fn inject_on(&self, path: &str, fault: Fault, times: usize) {
        self.push_fault(Some(path.to_owned()), fault, times);
    }

    fn push_fault(&self, path: Option<String>, fault: Fault, times: usize) {
        if times > 0 {
            self.shared.lock().faults.push(FaultRule {
                path,
                fault,
                remaining: times,
            });
        }
    }

    /// Every request received so far, in order, secrets redacted (none when built with
    /// [`record_requests(false)`](LocalInstanceBuilder::record_requests)).
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Moves the instance's clock forward: codes (10 minutes), Pleroma tokens and rate-limit
    /// windows expire without waiting.
    pub fn advance_clock(&self, by: Duration) {
        let mut st = self.shared.lock();
        st.clock_offset += by;
    }

    /// Stops serving: the listener closes and open connections are dropped. Dropping the
    /// instance does the same without waiting.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

struct InstanceHandler {
    shared: std::sync::OnceLock<Arc<Shared>>,
}

impl Handler for InstanceHandler {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<RespBody>, DropConnection> {
        let Some(shared) = self.shared.get().cloned() else {
            return server::to_response(Reply::api_error(503, "Instance is starting"));
        };
        let (parts, body) = req.into_parts();
        let bytes = match Limited::new(body, MAX_BODY).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let params = Params::parse(parts.uri.query(), content_type, &bytes);
        let req = Req {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            headers,
            params,
            peer: peer.ip(),
        };
        let record = shared.config.record_requests.then(|| RecordedRequest {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req
                .params
                .query_pairs()
                .iter()
                .map(|(k, v)| (k.clone(), redact_param(k, v)))
                .collect(),
            headers: req
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), redact_header(k, v)))
                .collect(),
            form: req
                .params
                .body_pairs()
                .iter()
                .map(|(k, v)| (k.clone(), redact_param(k, v)))
                .collect(),
        });
        let fault = {
            let mut st = shared.lock();
            st.requests.extend(record);
            fault::take(&mut st.faults, &req.path)
        };
        let reply = match fault {
            None => handler::route(&shared, &req),
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                handler::route(&shared, &req)
            }
            Some(f) => fault_reply(&shared, f),
        };
        server::to_response(reply)
    }
}

fn fault_reply(shared: &Shared, fault: Fault) -> Reply {
    match fault {
        Fault::Delay(_) | Fault::ResetConnection => Reply {
            status: 500,
            headers: Vec::new(),
            body: Body::Reset,
        },
        Fault::HtmlError(code) => {
            let code = if (100..=999).contains(&code) {
                code
            } else {
                502
            };
            let reason = http::StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            Reply::new(
                code,
                "text/html",
                format!(
                    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                ),
            )
        }
        Fault::MalformedJson => Reply::json(200, r#"{"access_token": "#),
        Fault::TruncatedJson => {
            let full = format!(
                r#"{{"access_token":"{}","token_type":"Bearer","scope":"read","created_at":1792004634}}"#,
                "A".repeat(43)
            );
            let sent = Bytes::from(full.clone()).slice(..full.len() / 2);
            Reply {
                body: Body::Truncated {
                    declared: full.len(),
                    sent,
                },
                ..Reply::json(200, "")
            }
        }
        Fault::Oversized(n) => {
            let body = if n >= 14 {
                format!(r#"{{"padding":"{}"}}"#, "x".repeat(n - 14))
            } else {
                "x".repeat(n)
            };
            Reply::json(200, body)
        }
        Fault::TooManyRequests | Fault::TooManyRequestsFor(_) => {
            let now = now(&shared.lock());
            let t = shared.config.api_throttle;
            let reset = match fault {
                Fault::TooManyRequestsFor(after) => now + after,
                _ => throttle::reset_time(now, t.period),
            };
            throttle::too_many(t.limit, reset, shared.config.profile.epoch_reset_header())
        }
    }
}
