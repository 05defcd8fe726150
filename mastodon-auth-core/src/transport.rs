//! The pluggable HTTP transport.

use std::fmt;
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
/// Implementations must not follow redirects (the client reports an unexpected one as
/// [`Error::UnexpectedRedirect`](crate::Error::UnexpectedRedirect) rather than carry
/// credentials elsewhere), should honour the [`RequestTimeout`] found in the request's
/// extensions, and should refuse plain HTTP to hosts other than this machine unless the
/// request carries [`AllowHttp`]. Their failures are [`TransportError`]s, made with constructors that take only
/// what any HTTP client knows ([`TransportError::connect`], [`TransportError::timeout`], …).
///
/// Everything an implementation needs is re-exported by this crate (`async_trait`, `http`,
/// `bytes`), so it needs no dependency of its own:
///
/// ```
/// use mastodon_auth_core::bytes::Bytes;
/// use mastodon_auth_core::{async_trait, http, HttpTransport, TimeoutPhase, TransportError};
///
/// /// A transport over some HTTP client (here a stand-in that always times out).
/// struct MyClient;
///
/// #[async_trait]
/// impl HttpTransport for MyClient {
///     async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
///         // … hand `request` to the client; map its errors:
///         let _ = request;
///         Err(TransportError::timeout(TimeoutPhase::Response))
///     }
/// }
///
/// // A closure is a transport too.
/// let transport = |req: http::Request<Bytes>| async move {
///     assert_eq!(req.uri().path(), "/api/v1/instance");
///     Ok::<_, TransportError>(http::Response::new(Bytes::from_static(b"{}")))
/// };
/// # tokio_test_block_on(async {
/// let resp = transport.send(http::Request::get("https://x.example/api/v1/instance").body(Bytes::new()).unwrap()).await?;
/// assert_eq!(resp.body().as_ref(), b"{}");
/// let err = MyClient.send(http::Request::get("https://x.example/").body(Bytes::new()).unwrap()).await.unwrap_err();
/// assert_eq!(err.to_string(), "timed out while waiting for the response");
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

/// The time a whole request may take (connecting, sending, and receiving the whole answer).
///
/// The one name of the request timeout: the client sets it with
/// [`MastodonBuilder::request_timeout`](crate::MastodonBuilder::request_timeout) and puts it
/// in the [`http::Extensions`] of every request it sends; a transport applies the one it
/// finds there, and its own `request_timeout` (`HyperTransportBuilder::request_timeout` in
/// `mastodon-auth-http`) to requests that carry none, such as those sent without a client.
/// Both default to [`RequestTimeout::DEFAULT`].
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_core::RequestTimeout;
/// let mut request = http::Request::new(bytes::Bytes::new());
/// request.extensions_mut().insert(RequestTimeout(Duration::from_secs(10)));
/// // In a transport:
/// let timeout = request.extensions().get::<RequestTimeout>().copied().unwrap_or_default();
/// assert_eq!(timeout.0, Duration::from_secs(10));
/// assert_eq!(RequestTimeout::default(), RequestTimeout::DEFAULT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestTimeout(pub Duration);

impl RequestTimeout {
    /// Mastodon.py's `request_timeout` default: 300 s.
    pub const DEFAULT: Self = Self(Duration::from_secs(300));
}

impl Default for RequestTimeout {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Permission to send a request over plain `http://` to a host other than this machine,
/// carried in [`http::Extensions`].
///
/// The one switch for plain HTTP is the client's
/// [`MastodonBuilder::allow_http`](crate::MastodonBuilder::allow_http): the client checks the
/// URLs it is given (the OAuth endpoints a server's metadata names) and marks each request
/// it sends with `AllowHttp` when the switch is on. A transport should refuse plain HTTP to
/// any host that is not loopback (`localhost`, `127.0.0.0/8`, `[::1]`, see
/// [`is_loopback_host`](crate::is_loopback_host)) unless the request carries this marker
/// (`mastodon-auth-http`'s `HyperTransport` does), so HTTPS stays the default however a
/// request is made, with or without a client.
///
/// ```
/// use mastodon_auth_core::AllowHttp;
/// let mut request = http::Request::new(bytes::Bytes::new());
/// request.extensions_mut().insert(AllowHttp);
/// assert!(request.extensions().get::<AllowHttp>().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AllowHttp;

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
    #[error("could not connect{}: {message}", authority.as_deref().map(|a| format!(" to {a}")).unwrap_or_default())]
    Connect {
        /// `host:port`, when the transport knows it.
        authority: Option<String>,
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
    #[error("timed out{} while {phase}", after.map(|a| format!(" after {:.1} s", a.as_secs_f64())).unwrap_or_default())]
    Timeout {
        /// What the transport was waiting for.
        phase: TimeoutPhase,
        /// The timeout that elapsed, when the transport knows it.
        after: Option<Duration>,
    },
    /// The connection closed or broke before the whole response arrived.
    #[error("the connection broke before the response was complete: {message}")]
    ConnectionClosed {
        /// What the transport saw.
        message: String,
    },
    /// The server's answer is not HTTP, or breaks HTTP's rules (a garbled status line, a
    /// header that cannot be parsed, an HTTP/2 protocol error). Unlike
    /// [`Error::MalformedResponse`](crate::Error::MalformedResponse), no response reached the
    /// client: the exchange itself failed.
    #[error("the server's answer is not valid HTTP: {message}")]
    InvalidResponse {
        /// What the HTTP client's parser reported.
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

/// Constructors for transports written over any HTTP client: each takes only what such a
/// client reports, and the `with_*` methods add what it may also know.
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_core::{TimeoutPhase, TlsFailure, TransportError};
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(TransportError::connect(&refused).to_string(), "could not connect: connection refused");
/// assert_eq!(
///     TransportError::connect("refused").with_authority("x.example:443").to_string(),
///     "could not connect to x.example:443: refused"
/// );
/// assert_eq!(
///     TransportError::timeout(TimeoutPhase::Connect).with_after(Duration::from_secs(10)).to_string(),
///     "timed out after 10.0 s while connecting"
/// );
/// let tls = TransportError::tls("x.example", TlsFailure::UnknownIssuer, "invalid peer certificate");
/// assert!(tls.to_string().starts_with("TLS handshake with x.example failed"));
/// assert_eq!(
///     TransportError::invalid_response("invalid HTTP version parsed").to_string(),
///     "the server's answer is not valid HTTP: invalid HTTP version parsed"
/// );
/// ```
impl TransportError {
    /// The host name could not be resolved.
    pub fn dns(host: impl Into<String>, message: impl fmt::Display) -> Self {
        Self::Dns {
            host: host.into(),
            message: message.to_string(),
        }
    }

    /// The connection could not be made; `message` is the client's error or its text. Add
    /// the `host:port` with [`with_authority`](Self::with_authority) when known.
    pub fn connect(message: impl fmt::Display) -> Self {
        Self::Connect {
            authority: None,
            message: message.to_string(),
        }
    }

    /// The TLS handshake with `host` failed.
    pub fn tls(host: impl Into<String>, reason: TlsFailure, message: impl fmt::Display) -> Self {
        Self::Tls {
            host: host.into(),
            reason,
            message: message.to_string(),
        }
    }

    /// No connection, or no answer, in time. Add the limit with
    /// [`with_after`](Self::with_after) when known.
    #[must_use]
    pub fn timeout(phase: TimeoutPhase) -> Self {
        Self::Timeout { phase, after: None }
    }

    /// The connection broke before the whole response arrived.
    pub fn connection_closed(message: impl fmt::Display) -> Self {
        Self::ConnectionClosed {
            message: message.to_string(),
        }
    }

    /// The server's answer is not valid HTTP; `message` is what the HTTP client's parser
    /// reported.
    pub fn invalid_response(message: impl fmt::Display) -> Self {
        Self::InvalidResponse {
            message: message.to_string(),
        }
    }

    /// The response body is larger than `limit` bytes.
    #[must_use]
    pub fn body_too_large(limit: usize) -> Self {
        Self::BodyTooLarge { limit }
    }

    /// The request itself cannot be sent (bad URL, bad header).
    pub fn invalid_request(message: impl fmt::Display) -> Self {
        Self::InvalidRequest(message.to_string())
    }

    /// Anything else the transport reports.
    pub fn other(message: impl fmt::Display) -> Self {
        Self::Other(message.to_string())
    }

    /// Names the `host:port` a [`Connect`](Self::Connect) failure was for; other errors are
    /// returned unchanged.
    #[must_use]
    pub fn with_authority(mut self, authority: impl Into<String>) -> Self {
        if let Self::Connect { authority: a, .. } = &mut self {
            *a = Some(authority.into());
        }
        self
    }

    /// Names the limit a [`Timeout`](Self::Timeout) ran into; other errors are returned
    /// unchanged.
    #[must_use]
    pub fn with_after(mut self, limit: Duration) -> Self {
        if let Self::Timeout { after, .. } = &mut self {
            *after = Some(limit);
        }
        self
    }
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

#[cfg(feature = "rustls")]
impl TlsFailure {
    /// What a rustls error means for the person reading the message: an unknown issuer, a
    /// certificate for another name, an expired one, a protocol failure. For transports on
    /// rustls (`HyperTransport`, or one of your own over reqwest's rustls backend).
    ///
    /// ```
    /// use mastodon_auth_core::TlsFailure;
    /// let err = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
    /// assert_eq!(TlsFailure::from_rustls(&err), TlsFailure::UnknownIssuer);
    /// ```
    #[must_use]
    pub fn from_rustls(err: &rustls::Error) -> Self {
        use rustls::CertificateError;
        match err {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => Self::UnknownIssuer,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => Self::NameMismatch,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => Self::Expired,
                _ => Self::Other,
            },
            rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. }
            | rustls::Error::InvalidMessage(_)
            | rustls::Error::AlertReceived(_)
            | rustls::Error::PeerIncompatible(_)
            | rustls::Error::PeerMisbehaved(_)
            | rustls::Error::NoApplicationProtocol
            | rustls::Error::DecryptError
            | rustls::Error::HandshakeNotComplete => Self::Protocol,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connecting",
            TimeoutPhase::Response => "waiting for the response",
        })
    }
}
