//! The connector stack: resolver -> TCP -> TLS (hyper-rustls) -> timeout + classification.
//!
//! Each layer exists to keep enough context to give a typed error: the resolver marks DNS
//! failures, the TCP layer marks everything before TLS, and the outer layer (which knows the
//! host) turns the result into a [`TransportError`] before hyper-util wraps it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiAddrs, GaiResolver, Name};
use hyper_util::rt::TokioIo;
use mastodon_auth_core::{TimeoutPhase, TransportError};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::classify::{self, ConnectFailure, DnsFailure, TcpStageError};

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

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

/// hyper-util's TCP connector, with every failure marked as [`TcpStageError`].
#[derive(Clone)]
pub(crate) struct TcpStage(HttpConnector<Resolver>);

impl TcpStage {
    pub(crate) fn new() -> Self {
        let mut http = HttpConnector::new_with_resolver(Resolver::new());
        // The TLS layer above hands https URIs down; the scheme policy lives in `send`.
        http.enforce_http(false);
        http.set_nodelay(true);
        TcpStage(http)
    }
}

impl Service<Uri> for TcpStage {
    type Response = TokioIo<TcpStream>;
    type Error = TcpStageError;
    type Future = BoxFuture<TokioIo<TcpStream>, TcpStageError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0
            .poll_ready(cx)
            .map_err(|e| TcpStageError(Box::new(e)))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let fut = self.0.call(dst);
        Box::pin(async move { fut.await.map_err(|e| TcpStageError(Box::new(e))) })
    }
}

/// The outermost connector: bounds the whole connect (DNS, TCP, TLS) by `connect_timeout`
/// and classifies failures while the host is still known.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) tls: HttpsConnector<TcpStage>,
    pub(crate) connect_timeout: Duration,
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
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
