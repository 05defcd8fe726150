//! [`ReqwestTransport`]: core's [`HttpTransport`] over reqwest.

mod classify;
mod resolve;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mastodon_auth::bytes::Bytes;
use mastodon_auth::{HttpTransport, RequestTimeout, TransportError, async_trait, http};

use classify::Attempt;
use resolve::SystemResolver;

/// The time allowed for a whole request that carries no [`RequestTimeout`].
pub const DEFAULT_TIMEOUT: Duration = RequestTimeout::DEFAULT.0;
/// The time allowed to connect (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body accepted: far above anything the authentication API answers.
pub const DEFAULT_MAX_BODY_SIZE: usize = 8 * 1024 * 1024;

/// Sends the client's requests with reqwest (rustls with ring, the web PKI's roots).
///
/// It follows no redirect (the client reports one as an error rather than carry credentials
/// elsewhere), gives each request the [`RequestTimeout`] the client puts in its extensions,
/// refuses a body over [`max_body_size`](ReqwestTransportBuilder::max_body_size), and
/// reports every failure as a typed [`TransportError`]:
///
/// | what happened | error |
/// |---|---|
/// | the host has no address | [`Dns`](TransportError::Dns) |
/// | the connection was refused or the host unreachable | [`Connect`](TransportError::Connect), with `host:port` |
/// | the certificate or the handshake was bad | [`Tls`](TransportError::Tls), with the [`TlsFailure`](mastodon_auth::TlsFailure) |
/// | no connection, or no whole answer, in time | [`Timeout`](TransportError::Timeout), with the phase and the limit |
/// | the body is over the cap | [`BodyTooLarge`](TransportError::BodyTooLarge) |
/// | the answer is not HTTP | [`InvalidResponse`](TransportError::InvalidResponse) |
/// | the connection broke mid-exchange | [`ConnectionClosed`](TransportError::ConnectionClosed) |
/// | the request cannot be sent | [`InvalidRequest`](TransportError::InvalidRequest) |
///
/// ```
/// use mastodon_auth::Mastodon;
/// use mastodon_auth_proof::ReqwestTransport;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Mastodon::builder("mastodon.social")
///     .transport(ReqwestTransport::new()?)
///     .build()
///     .await?;
/// # drop(client);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    timeout: Duration,
    connect_timeout: Duration,
    max_body_size: usize,
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_body_size", &self.max_body_size)
            .finish_non_exhaustive()
    }
}

impl ReqwestTransport {
    /// A transport with the defaults: the web PKI's roots, [`DEFAULT_TIMEOUT`],
    /// [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_MAX_BODY_SIZE`].
    ///
    /// # Errors
    /// When reqwest cannot set up its TLS configuration.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::builder().build()
    }

    /// A builder to add trusted roots and change the limits.
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder::default()
    }

    /// Reads the body, refusing it as soon as it is known to be over the cap: from its
    /// `Content-Length` before reading, or while reading one without.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        attempt: &Attempt,
    ) -> Result<Bytes, TransportError> {
        let limit = self.max_body_size;
        let declared = response.content_length();
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(TransportError::body_too_large(limit));
        }
        let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit));
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(|e| attempt.error(e))? {
            if body.len() + chunk.len() > limit {
                return Err(TransportError::body_too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }
}

#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let timeout = request
            .extensions()
            .get::<RequestTimeout>()
            .map_or(self.timeout, |t| t.0);
        let attempt = Attempt::new(request.uri(), self.connect_timeout, timeout);
        let mut request = reqwest::Request::try_from(request).map_err(|e| attempt.error(e))?;
        *request.timeout_mut() = Some(timeout);
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|e| attempt.error(e))?;
        let status = response.status();
        let version = response.version();
        let headers = std::mem::take(response.headers_mut());
        let body = self.read_body(response, &attempt).await?;
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.version_mut() = version;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// Settings for a [`ReqwestTransport`]; see [`ReqwestTransport::builder`].
#[must_use]
pub struct ReqwestTransportBuilder {
    roots: Vec<reqwest::Certificate>,
    timeout: Duration,
    connect_timeout: Duration,
    max_body_size: usize,
}

impl Default for ReqwestTransportBuilder {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
        }
    }
}

impl fmt::Debug for ReqwestTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransportBuilder")
            .field("extra_roots", &self.roots.len())
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_body_size", &self.max_body_size)
            .finish()
    }
}

impl ReqwestTransportBuilder {
    /// Also trusts the CA certificate(s) in `pem` (a private CA, a test CA).
    ///
    /// # Errors
    /// When `pem` holds no certificate reqwest can read.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, reqwest::Error> {
        self.roots
            .extend(reqwest::Certificate::from_pem_bundle(pem)?);
        Ok(self)
    }

    /// The time allowed for a whole request that carries no [`RequestTimeout`] (default
    /// [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time allowed to connect, TLS included (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes (default [`DEFAULT_MAX_BODY_SIZE`]).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// The transport.
    ///
    /// # Errors
    /// When reqwest cannot set up its TLS configuration.
    pub fn build(self) -> Result<ReqwestTransport, reqwest::Error> {
        let mut client = reqwest::Client::builder()
            .use_rustls_tls()
            // The client decides what a redirect means; following one could carry the
            // bearer token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .dns_resolver(Arc::new(SystemResolver));
        for root in self.roots {
            client = client.add_root_certificate(root);
        }
        Ok(ReqwestTransport {
            client: client.build()?,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            max_body_size: self.max_body_size,
        })
    }
}
