//! Servers for the cases a real instance never produces: an answer scripted by the test, a
//! server that never answers, bytes that are not HTTP, a body without end, and a relay that a
//! test can freeze like a NAT that silently dropped a connection.

mod proxy;

pub use proxy::{ConnectProxy, ProxyBehaviour, ProxyProtocol, ProxyRequest};

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Answers one request from its head (method, URI, headers); the body is not read.
pub type Handler = Arc<dyn Fn(&http::request::Parts) -> http::Response<Bytes> + Send + Sync>;

/// What a [`TestServer`] does with each connection.
#[derive(Clone)]
#[non_exhaustive]
pub enum Behaviour {
    /// Serve HTTP (1.1 or 2) with the handler.
    Http(Handler),
    /// Serve HTTP, answering each request only after the delay.
    SlowHttp(Duration, Handler),
    /// Read whatever comes and never answer.
    Silent,
    /// Write these bytes once the request head has arrived, then close (an answer that is not
    /// HTTP, or a hand-made one).
    Raw(&'static [u8]),
    /// Answer 200 with a chunked body of `chunks` chunks of 16 KiB, more than any client
    /// should accept.
    EndlessChunked {
        /// How many 16 KiB chunks to send.
        chunks: usize,
    },
}

impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(_) => f.write_str("Http(..)"),
            Self::SlowHttp(delay, _) => write!(f, "SlowHttp({delay:?}, ..)"),
            Self::Silent => f.write_str("Silent"),
            Self::Raw(bytes) => write!(f, "Raw({} bytes)", bytes.len()),
            Self::EndlessChunked { chunks } => write!(f, "EndlessChunked {{ chunks: {chunks} }}"),
        }
    }
}

/// A server on `127.0.0.1` with one [`Behaviour`]; it stops, with every connection, when
/// dropped.
///
/// ```
/// use std::sync::Arc;
/// use mastodon_auth_tests::{Behaviour, TestServer};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let teapot = TestServer::plain(Behaviour::Http(Arc::new(|_request| {
///     let mut response = http::Response::new(bytes::Bytes::from_static(b"short and stout"));
///     *response.status_mut() = http::StatusCode::IM_A_TEAPOT;
///     response
/// })))
/// .await?;
/// assert!(teapot.url("http", "/").starts_with("http://127.0.0.1:"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A plain-HTTP server.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn plain(behaviour: Behaviour) -> io::Result<Self> {
        Self::start(None, behaviour).await
    }

    /// An HTTPS server with this TLS configuration (see [`Leaf::server_config`](crate::Leaf::server_config)).
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn tls(config: Arc<rustls::ServerConfig>, behaviour: Behaviour) -> io::Result<Self> {
        Self::start(Some(config), behaviour).await
    }

    /// Where it listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `scheme://127.0.0.1:port` followed by `path`.
    #[must_use]
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    /// How many TCP connections it has accepted.
    #[must_use]
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    async fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        behaviour: Behaviour,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let task = tokio::spawn(async move {
            // Aborting this task drops the set, which aborts every connection task.
            let mut connections = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                // Small answers go out at once, as from a real server behind a proxy.
                let _ = tcp.set_nodelay(true);
                let behaviour = behaviour.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    match acceptor {
                        // A failed handshake is what some tests provoke.
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, behaviour).await;
                            }
                        }
                        None => serve(tcp, behaviour).await,
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            addr,
            accepted,
            task,
        })
    }
}

async fn serve<S>(mut stream: S, behaviour: Behaviour)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match behaviour {
        Behaviour::Http(handler) => serve_http(stream, None, handler).await,
        Behaviour::SlowHttp(delay, handler) => serve_http(stream, Some(delay), handler).await,
        Behaviour::Silent => {
            let mut buf = [0u8; 4096];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        Behaviour::Raw(bytes) => {
            read_head(&mut stream).await;
            let _ = stream.write_all(bytes).await;
            let _ = stream.shutdown().await;
        }
        Behaviour::EndlessChunked { chunks } => {
            read_head(&mut stream).await;
            let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            if stream.write_all(head).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 16 * 1024];
            let size = format!("{:x}\r\n", chunk.len());
            for _ in 0..chunks {
                if stream.write_all(size.as_bytes()).await.is_err()
                    || stream.write_all(&chunk).await.is_err()
                    || stream.write_all(b"\r\n").await.is_err()
                {
                    return;
                }
            }
        }
    }
}

async fn serve_http<S>(stream: S, delay: Option<Duration>, handler: Handler)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let (parts, _body) = request.into_parts();
        let response = handler(&parts).map(Full::new);
        async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(response)
        }
    });
    // Errors here are the client going away, which tests provoke.
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Reads until the end of the request head (a blank line).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
}

/// A TCP relay in front of a server, which the test can freeze: a frozen connection still
/// reads from both sides but forwards nothing, as if a NAT between client and server had
/// silently dropped it (HTTP/2 keep-alive PINGs then go unanswered). Stops, with every
/// connection, when dropped.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    frozen: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    closed_by_client: Arc<tokio::sync::watch::Sender<usize>>,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// A relay on `127.0.0.1` to `upstream`.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let frozen = Arc::new(Mutex::new(Vec::new()));
        let closed_by_client = Arc::new(tokio::sync::watch::Sender::new(0));
        let (counter, switches, closed) =
            (accepted.clone(), frozen.clone(), closed_by_client.clone());
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let switch = Arc::new(AtomicBool::new(false));
                lock(&switches).push(switch.clone());
                let closed = closed.clone();
                connections.spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let upstream_leg =
                        tokio::spawn(pump(server_read, client_write, switch.clone()));
                    pump(client_read, server_write, switch).await;
                    closed.send_modify(|n| *n += 1);
                    upstream_leg.abort();
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            addr,
            accepted,
            frozen,
            closed_by_client,
            task,
        })
    }

    /// Where it listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops forwarding on every connection open now; later connections are not affected.
    pub fn freeze(&self) {
        for switch in lock(&self.frozen).iter() {
            switch.store(true, Ordering::SeqCst);
        }
    }

    /// How many connections it has accepted.
    #[must_use]
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until the client side has closed `count` connections.
    pub async fn client_closed(&self, count: usize) {
        let mut closed = self.closed_by_client.subscribe();
        // The sender lives in `self`, so the channel stays open while this waits.
        let _ = closed.wait_for(|n| *n >= count).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Copies `from` to `to` until `from` ends, discarding the bytes once `frozen` is set.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if !frozen.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}
