//! The pluggable HTTP transport.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

/// Sends one HTTP request and returns the whole response.
///
/// Plain [`http`] types, so no HTTP client's types leak into core: `mastodon-auth-http`
/// provides the hyper + rustls implementation, and any closure
/// `Fn(http::Request<Bytes>) -> impl Future<Output = Result<http::Response<Bytes>, TransportError>>`
/// is a transport too, which is handy in tests.
///
/// Implementations must not follow redirects, and should honour a [`RequestTimeout`] found in
/// the request's extensions.
///
/// ```
/// use bytes::Bytes;
/// use mastodon_auth_core::{HttpTransport, TransportError};
///
/// let transport = |req: http::Request<Bytes>| async move {
///     assert_eq!(req.uri().path(), "/api/v1/instance");
///     Ok::<_, TransportError>(http::Response::new(Bytes::from_static(b"{}")))
/// };
/// # tokio_test_block_on(async {
/// let resp = transport.send(http::Request::get("https://x.example/api/v1/instance").body(Bytes::new()).unwrap()).await?;
/// assert_eq!(resp.body().as_ref(), b"{}");
/// # Ok::<(), TransportError>(()) });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f) }
/// ```
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `request`; any status is a successful send.
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError>;
}

#[async_trait::async_trait]
impl<F, Fut> HttpTransport for F
where
    F: Fn(http::Request<Bytes>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Bytes>, TransportError>> + Send,
{
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        self(request).await
    }
}

/// The per-request timeout, carried in [`http::Extensions`] (the client's `request_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Duration);

/// Why a request did not complete. Says what happened without quoting secrets: URLs appear
/// without their query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The host name could not be resolved.
    #[error("could not resolve host {host}: {message}")]
    Dns {
        /// The host.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// The connection could not be made (refused, unreachable).
    #[error("could not connect to {authority}: {message}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// The operating system's message.
        message: String,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {host} failed ({reason}): {message}")]
    Tls {
        /// The host.
        host: String,
        /// The kind of failure.
        reason: TlsFailure,
        /// The TLS library's message.
        message: String,
    },
    /// No connection, or no answer, within the time allowed.
    #[error("timed out after {:.1} s while {phase}", after.as_secs_f64())]
    Timeout {
        /// What the transport was waiting for.
        phase: TimeoutPhase,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The connection closed or broke before the whole response arrived.
    #[error("the connection broke before the response was complete: {message}")]
    ConnectionClosed {
        /// What the transport saw.
        message: String,
    },
    /// The proxy in front of the server could not be reached, or refused to carry the request
    /// (an HTTP CONNECT answered with a non-2xx status, a failed SOCKS5 handshake).
    ///
    /// Names the proxy by `host:port` only: never its credentials.
    #[error("proxy {proxy}: {message}")]
    Proxy {
        /// The proxy's `host:port`.
        proxy: String,
        /// The proxy's HTTP status when it answered the tunnel request with one (e.g. 403,
        /// 407, 502); `None` when it could not be reached or does not speak HTTP (SOCKS5).
        status: Option<u16>,
        /// What went wrong, and what to fix where that is clear.
        message: String,
    },
    /// The response body is larger than the transport accepts.
    #[error("the response body is larger than the {limit}-byte limit")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A plain-HTTP URL to a non-loopback host, refused without connecting.
    #[error("refusing plain HTTP to {url}: use https, or allow http explicitly")]
    InsecureUrl {
        /// Scheme, host and path of the URL.
        url: String,
    },
    /// The request itself is unusable (bad URL, bad header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Anything else the transport reports.
    #[error("{0}")]
    Other(String),
}

/// The kind of TLS failure, for a message that says what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The certificate is not signed by a trusted authority.
    UnknownIssuer,
    /// The certificate is for another host name.
    NameMismatch,
    /// The certificate has expired (or is not yet valid).
    Expired,
    /// The server does not speak TLS, or spoke it wrongly.
    Protocol,
    /// Anything else.
    Other,
}

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsFailure::UnknownIssuer => "certificate signed by an unknown authority",
            TlsFailure::NameMismatch => "certificate is for another host name",
            TlsFailure::Expired => "certificate expired or not yet valid",
            TlsFailure::Protocol => "TLS protocol error",
            TlsFailure::Other => "TLS error",
        })
    }
}

/// What a transport was waiting for when it timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Connecting (TCP and TLS).
    Connect,
    /// The response (headers and body).
    Response,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connecting",
            TimeoutPhase::Response => "waiting for the response",
        })
    }
}
