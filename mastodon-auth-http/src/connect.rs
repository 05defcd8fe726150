//! The connector stack: resolver -> TCP, direct or through a proxy -> TLS (hyper-rustls) ->
//! timeout + classification.
//!
//! Each layer exists to keep enough context to give a typed error: the resolver marks DNS
//! failures, the dialling layer marks everything before TLS (and classifies proxy failures
//! itself), and the outer layer (which knows the host) turns the result into a
//! [`TransportError`] before hyper-util wraps it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::dns::{GaiAddrs, GaiResolver, Name};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use mastodon_auth_core::{TimeoutPhase, TransportError};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::classify::{self, ConnectFailure, DnsFailure, TcpStageError};
use crate::proxy::{self, Protocol, ProxyEndpoint, Routes};

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The system resolver, with failures marked as [`DnsFailure`].
#[derive(Clone)]
pub(crate) struct Resolver(GaiResolver);

impl Resolver {
    pub(crate) fn new() -> Self {
        Resolver(GaiResolver::new())
    }
}

impl Service<Name> for Resolver {
    type Response = GaiAddrs;
    type Error = DnsFailure;
    type Future = BoxFuture<GaiAddrs, DnsFailure>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(|source| DnsFailure {
            host: String::new(),
            source,
        })
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_owned();
        let fut = self.0.call(name);
        Box::pin(async move { fut.await.map_err(|source| DnsFailure { host, source }) })
    }
}

/// Opens the TCP stream for a target: directly, or through the proxy its route names.
///
/// Direct failures are marked as [`TcpStageError`]; proxy failures are classified here, where
/// the proxy is known, as [`ConnectFailure`]s.
#[derive(Clone)]
pub(crate) struct Dial {
    tcp: HttpConnector<Resolver>,
    resolver: Resolver,
    routes: Option<Arc<Routes>>,
}

impl Dial {
    pub(crate) fn new(routes: Option<Arc<Routes>>) -> Self {
        let resolver = Resolver::new();
        let mut tcp = HttpConnector::new_with_resolver(resolver.clone());
        // The TLS layer above hands https URIs down; the scheme policy lives in `send`.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        Dial {
            tcp,
            resolver,
            routes,
        }
    }
}

impl Service<Uri> for Dial {
    type Response = Stream;
    type Error = BoxError;
    type Future = BoxFuture<Stream, BoxError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tcp
            .poll_ready(cx)
            .map_err(|e| TcpStageError(Box::new(e)).into())
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let proxy = self
            .routes
            .as_deref()
            .and_then(|routes| routes.proxy_for(&dst))
            .cloned();
        let Some(proxy) = proxy else {
            let fut = self.tcp.call(dst);
            return Box::pin(async move {
                match fut.await {
                    Ok(io) => Ok(Stream::new(io, false)),
                    Err(e) => Err(TcpStageError(Box::new(e)).into()),
                }
            });
        };
        let to_proxy = self.tcp.call(proxy.dial.clone());
        let resolver = self.resolver.clone();
        Box::pin(async move {
            let io = to_proxy
                .await
                .map_err(|e| ConnectFailure(classify::proxy_unreachable(&e, &proxy)))?;
            through(io, dst, &proxy, resolver)
                .await
                .map_err(|e| ConnectFailure(e).into())
        })
    }
}

/// Turns the connection to `proxy` into a stream to `dst`.
async fn through(
    io: TokioIo<TcpStream>,
    dst: Uri,
    proxy: &ProxyEndpoint,
    resolver: Resolver,
) -> Result<Stream, TransportError> {
    let https = dst.scheme() == Some(&Scheme::HTTPS);
    let port = dst.port_u16().unwrap_or(if https { 443 } else { 80 });
    let host = dst.host().unwrap_or_default();
    match &proxy.protocol {
        Protocol::Http { authorization } if https => {
            let target = format!("{host}:{port}");
            let io = proxy::tunnel(io, &target, proxy, authorization.as_ref()).await?;
            Ok(Stream::new(io, false))
        }
        // hyper-util sends absolute-form requests on a connection marked as proxied.
        Protocol::Http { .. } => Ok(Stream::new(io, true)),
        Protocol::Socks5 { remote_dns, login } => {
            let address = if *remote_dns || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
            {
                format!("{host}:{port}")
            } else {
                resolve(resolver, host, port).await?.to_string()
            };
            // hyper-util reads the port from the URI, assuming 443 when it is implicit.
            let target = format!("socks5://{address}/")
                .parse()
                .map_err(|_| TransportError::InvalidRequest(format!("cannot address {host}")))?;
            let io = proxy::socks5(io, target, proxy, login.as_ref()).await?;
            Ok(Stream::new(io, false))
        }
    }
}

/// The first address `host` resolves to, for a `socks5://` proxy (which expects an address).
async fn resolve(
    mut resolver: Resolver,
    host: &str,
    port: u16,
) -> Result<SocketAddr, TransportError> {
    let dns_error = |message: String| TransportError::Dns {
        host: host.to_owned(),
        message,
    };
    let name = Name::from_str(host).map_err(|e| dns_error(e.to_string()))?;
    let mut addrs = resolver
        .call(name)
        .await
        .map_err(|e| dns_error(e.source.to_string()))?;
    let mut addr = addrs
        .next()
        .ok_or_else(|| dns_error("no address".to_owned()))?;
    addr.set_port(port);
    Ok(addr)
}

/// A TCP stream, marked when it leads to an HTTP proxy that takes absolute-form requests.
pub(crate) struct Stream {
    io: TokioIo<TcpStream>,
    forwarding: bool,
}

impl Stream {
    fn new(io: TokioIo<TcpStream>, forwarding: bool) -> Self {
        Stream { io, forwarding }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forwarding)
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

/// The outermost connector: bounds the whole connect (DNS, TCP, TLS) by `connect_timeout`
/// and classifies failures while the host is still known.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) tls: HttpsConnector<Dial>,
    pub(crate) connect_timeout: Duration,
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<Stream>;
    type Error = ConnectFailure;
    type Future = BoxFuture<Self::Response, ConnectFailure>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.tls.poll_ready(cx).map_err(|e| {
            ConnectFailure(TransportError::Other(format!(
                "the connector is not usable: {}",
                classify::describe(&*e)
            )))
        })
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let host = dst.host().unwrap_or_default().to_owned();
        let port = dst.port_u16().unwrap_or(match dst.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => 80,
            _ => 443,
        });
        let timeout = self.connect_timeout;
        let fut = self.tls.call(dst);
        Box::pin(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => {
                    let authority = format!("{host}:{port}");
                    Err(ConnectFailure(classify::connect_error(
                        &*e, &host, &authority,
                    )))
                }
                Err(_) => Err(ConnectFailure(TransportError::Timeout {
                    phase: TimeoutPhase::Connect,
                    after: Some(timeout),
                })),
            }
        })
    }
}
