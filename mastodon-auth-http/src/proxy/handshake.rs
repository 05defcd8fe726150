//! Opening a byte stream to the target over an established connection to the proxy: an HTTP
//! CONNECT tunnel (RFC 9110, section 9.3.6) or a SOCKS5 connection (RFC 1928).
//!
//! Both give back the proxy connection's own TCP stream, so TLS to the target and the
//! connection pool work exactly as for a direct connection.

use std::future::{Ready, poll_fn, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::client::legacy::connect::proxy::SocksV5;
use hyper_util::rt::TokioIo;
use mastodon_auth_core::TransportError;
use tokio::net::TcpStream;
use tower_service::Service;

use super::{Login, ProxyEndpoint};
use crate::classify;

type Tcp = TokioIo<TcpStream>;

/// Asks the HTTP proxy on `io` for a tunnel to `target` (`host:port`).
///
/// hyper's own HTTP/1 client sends the CONNECT and reads the answer, then hands the connection
/// back. (hyper-util's `Tunnel` connector would do the exchange too, but its error keeps
/// neither the status nor a nameable type, and a caller needs to tell 407 from 403 or 502.)
pub(crate) async fn tunnel(
    io: Tcp,
    target: &str,
    proxy: &ProxyEndpoint,
    authorization: Option<&HeaderValue>,
) -> Result<Tcp, TransportError> {
    let broken = |e: hyper::Error| {
        proxy.failure(
            None,
            format!("the CONNECT exchange broke off: {}", classify::describe(&e)),
        )
    };
    let mut request = Request::connect(target)
        .header(HOST, target)
        .body(Empty::<Bytes>::new())
        .map_err(|_| proxy.failure(None, format!("cannot ask for a tunnel to {target}")))?;
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert(PROXY_AUTHORIZATION, value.clone());
    }
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(broken)?;
    let mut connection = std::pin::pin!(connection.with_upgrades());
    let mut sending = std::pin::pin!(sender.send_request(request));
    // The connection future must run for the response to arrive, and it may finish in the
    // same poll that delivers the response (by handing the socket to the upgrade, or because
    // a refusing proxy closed the connection): the response is then still waiting in
    // `sending`.
    let (response, ended) = tokio::select! {
        response = &mut sending => (response, None),
        result = &mut connection => (sending.await, Some(result)),
    };
    let connection_ended = ended.is_some();
    let response = match (response, ended) {
        (Ok(response), _) => response,
        (Err(_), Some(Err(e))) | (Err(e), _) => return Err(broken(e)),
    };
    let status = response.status();
    if !status.is_success() {
        return Err(refusal(proxy, status, target, authorization.is_some()));
    }
    if !connection_ended {
        // With the 2xx delivered, the connection future hands the socket to the upgrade.
        connection.await.map_err(broken)?;
    }
    let upgraded = hyper::upgrade::on(response).await.map_err(broken)?;
    let parts = upgraded.downcast::<Tcp>().map_err(|_| {
        proxy.failure(
            None,
            "the tunnel is not the connection it was opened on (a hyper invariant broke)",
        )
    })?;
    // The target speaks first only after our TLS ClientHello; bytes before it are not its.
    if !parts.read_buf.is_empty() {
        return Err(proxy.failure(
            Some(status.as_u16()),
            "the proxy sent data after accepting the CONNECT, before the target could speak",
        ));
    }
    Ok(parts.io)
}

fn refusal(
    proxy: &ProxyEndpoint,
    status: StatusCode,
    target: &str,
    sent_credentials: bool,
) -> TransportError {
    let message = match (status, sent_credentials) {
        (StatusCode::PROXY_AUTHENTICATION_REQUIRED, false) => format!(
            "the proxy requires credentials ({status}); put them in the proxy URL, \
             http://user:password@host:port"
        ),
        (StatusCode::PROXY_AUTHENTICATION_REQUIRED, true) => {
            format!("the proxy rejected the credentials in the proxy URL ({status})")
        }
        _ => format!("the proxy refused a tunnel to {target} ({status})"),
    };
    proxy.failure(Some(status.as_u16()), message)
}

/// Asks the SOCKS5 proxy on `io` to connect to `target` (which must carry its port), with
/// hyper-util's SOCKS5 client.
pub(crate) async fn socks5(
    io: Tcp,
    target: Uri,
    proxy: &ProxyEndpoint,
    login: Option<&Login>,
) -> Result<Tcp, TransportError> {
    // Name resolution for plain `socks5` already happened, so hyper-util's own (blocking)
    // local resolution stays off.
    let mut socks = SocksV5::new(proxy.dial.clone(), Opened(Some(io))).local_dns(false);
    if let Some(login) = login {
        socks = socks.with_auth(login.user.clone(), login.password.clone());
    }
    let failed = |e: &dyn std::fmt::Display| {
        proxy.failure(None, format!("the SOCKS5 handshake failed: {e}"))
    };
    poll_fn(|cx| socks.poll_ready(cx))
        .await
        .map_err(|e| failed(&e))?;
    socks.call(target).await.map_err(|e| failed(&e))
}

/// The connection to the proxy, already opened, as the connector `SocksV5` wants to wrap.
/// Opening it beforehand lets an unreachable proxy be reported as such: hyper-util's SOCKS
/// error would only say that "the underlying connection" failed.
struct Opened(Option<Tcp>);

impl Service<Uri> for Opened {
    type Response = Tcp;
    type Error = std::io::Error;
    type Future = Ready<Result<Tcp, std::io::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _proxy: Uri) -> Self::Future {
        ready(
            self.0
                .take()
                .ok_or_else(|| std::io::Error::other("the proxy connection was already used")),
        )
    }
}
