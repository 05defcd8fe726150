#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod body;
mod builder;
mod classify;
mod connect;
mod error;
mod policy;
mod proxy;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION, USER_AGENT};
use http_body_util::Full;
use hyper_util::client::legacy::{Client, ResponseFuture};
use mastodon_auth_core::{AllowHttp, HttpTransport, RequestTimeout, TimeoutPhase, TransportError};

pub use builder::HyperTransportBuilder;
pub use error::{BuildError, ProxyOrigin};

/// The default cap on a response body: 8 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 8 * 1024 * 1024;
/// The default time allowed for connecting (DNS, TCP and TLS together).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default `User-Agent`, sent when a request has none: the client's own.
pub const DEFAULT_USER_AGENT: &str = mastodon_auth_core::DEFAULT_USER_AGENT;
/// The default interval between HTTP/2 PINGs on an open connection.
pub const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// The default time allowed for the answer to an HTTP/2 PING before the connection is closed.
pub const DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// An [`HttpTransport`] on hyper 1, hyper-util's pooled client and rustls (ring).
///
/// Cheap to clone: clones share one connection pool. Build one with [`HyperTransport::new`]
/// or [`HyperTransport::builder`].
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_http::HyperTransport;
///
/// let transport = HyperTransport::builder()
///     .connect_timeout(Duration::from_secs(5))
///     .request_timeout(Duration::from_secs(60))
///     .max_body_size(1024 * 1024)
///     .user_agent("my-bot/1.0")
///     .build()?;
/// let shared = transport.clone(); // same pool
/// # drop(shared);
/// # Ok::<(), mastodon_auth_http::BuildError>(())
/// ```
#[derive(Clone)]
pub struct HyperTransport {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<connect::Connector, Full<Bytes>>,
    /// For requests without a [`RequestTimeout`] of their own.
    request_timeout: RequestTimeout,
    connect_timeout: Duration,
    max_body_size: usize,
    user_agent: HeaderValue,
    /// `None` when no proxy is configured, so requests skip the proxy lookup entirely.
    routes: Option<Arc<proxy::Routes>>,
    http2_keep_alive: builder::Http2KeepAlive,
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("HyperTransport")
            .field("connect_timeout", &i.connect_timeout)
            .field("request_timeout", &i.request_timeout.0)
            .field("max_body_size", &i.max_body_size)
            .field("user_agent", &i.user_agent)
            .field("proxy", &i.routes)
            .field("http2_keep_alive", &i.http2_keep_alive)
            .finish_non_exhaustive()
    }
}

impl HyperTransport {
    /// A transport with the defaults: webpki roots, 30 s connect timeout, 300 s request
    /// timeout, 8 MiB body cap, `User-Agent: mastodon-auth/<version>`, HTTPS only (plain HTTP
    /// to loopback hosts, or to any host for a request that carries [`AllowHttp`]).
    ///
    /// The proxy comes from the environment (`HTTPS_PROXY`, `NO_PROXY`, …), HTTP/2
    /// connections are pinged every 30 s.
    ///
    /// ```
    /// let transport = mastodon_auth_http::HyperTransport::new()?;
    /// # drop(transport);
    /// # Ok::<(), mastodon_auth_http::BuildError>(())
    /// ```
    pub fn new() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    /// A builder to change roots, timeouts, body cap, user agent, the proxy or HTTP/2
    /// keep-alive.
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::new()
    }

    /// Checks `request` against the policy, completes its headers and hands it to the pool.
    fn start(&self, request: http::Request<Bytes>) -> Result<InFlight, TransportError> {
        let inner = &*self.inner;
        let (mut parts, body) = request.into_parts();
        policy::check(&parts.uri, parts.extensions.get::<AllowHttp>().is_some())?;
        let timeout = parts
            .extensions
            .get::<RequestTimeout>()
            .unwrap_or(&inner.request_timeout)
            .0;
        if !parts.headers.contains_key(USER_AGENT) {
            parts.headers.insert(USER_AGENT, inner.user_agent.clone());
        }
        if let Some(authorization) = inner
            .routes
            .as_deref()
            .and_then(|routes| routes.forward_authorization(&parts.uri))
        {
            parts
                .headers
                .entry(PROXY_AUTHORIZATION)
                .or_insert_with(|| authorization.clone());
        }
        // A walk over the few headers of a request costs less than two lookups.
        for (name, value) in &mut parts.headers {
            if name == AUTHORIZATION || name == PROXY_AUTHORIZATION {
                value.set_sensitive(true);
            }
        }
        let request = http::Request::from_parts(parts, Full::new(body));
        Ok(InFlight {
            // The pool's future does nothing until polled: the timeout covers all of it.
            response: inner.client.request(request),
            timeout,
            max_body_size: inner.max_body_size,
        })
    }
}

/// What a request needs once it is on its way: the policy check and the headers are done
/// before it starts, by [`HyperTransport::start`].
struct InFlight {
    response: ResponseFuture,
    timeout: Duration,
    max_body_size: usize,
}

impl InFlight {
    async fn finish(self) -> Result<http::Response<Bytes>, TransportError> {
        let Self {
            response,
            timeout,
            max_body_size,
        } = self;
        let exchange = async {
            let response = response.await.map_err(|e| classify::request_error(&e))?;
            let (parts, body) = response.into_parts();
            // A declared Content-Length over the cap fails here, before a byte is read: hyper
            // turns it into the body's size hint.
            let bytes = body::collect(body, max_body_size).await?;
            Ok(http::Response::from_parts(parts, bytes))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout {
                phase: TimeoutPhase::Response,
                after: Some(timeout),
            }),
        }
    }
}

#[async_trait::async_trait]
impl HttpTransport for HyperTransport {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        self.start(request)?.finish().await
    }
}
