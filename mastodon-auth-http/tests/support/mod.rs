//! A small loopback HTTP(S) test server for the transport's integration tests, with the test
//! kit's certificate authority.

#![allow(dead_code)] // Each test file uses a different part.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub use mastodon_auth_tests::{Alpn, Leaf};

/// The test kit's certificate authority, with tests' error handling: a failure to make a
/// certificate fails the test at once.
pub struct TestCa(mastodon_auth_tests::TestCa);

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        TestCa(mastodon_auth_tests::TestCa::new(name).expect("test CA"))
    }

    /// The CA certificate, PEM-encoded, for `add_root_pem`.
    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// The CA certificate, DER-encoded.
    pub fn der(&self) -> Vec<u8> {
        self.0.der()
    }

    /// A leaf for `names` (DNS names or IP addresses), valid now.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        self.0.leaf(names).expect("leaf certificate")
    }

    /// A leaf for `names` that expired in 2001.
    pub fn expired_leaf(&self, names: &[&str]) -> Leaf {
        self.0
            .expired_leaf(names)
            .expect("expired leaf certificate")
    }
}

pub fn tls_config(leaf: Leaf, alpn: Alpn) -> Arc<rustls::ServerConfig> {
    leaf.server_config(alpn).expect("server TLS configuration")
}

pub type Handler =
    Arc<dyn Fn(&http::Request<Incoming>) -> http::Response<Full<Bytes>> + Send + Sync>;

/// What the server does with each accepted connection.
#[derive(Clone)]
pub enum Behaviour {
    /// Serve HTTP (1.1 or 2) with the handler.
    Http(Handler),
    /// Serve HTTP, answering each request only after the delay.
    SlowHttp(std::time::Duration, Handler),
    /// Read whatever comes and never answer.
    Silent,
    /// Write these raw bytes once the request head has arrived, then close.
    Raw(&'static [u8]),
    /// Answer with a chunked body that never ends (within the test): `chunks` of 16 KiB.
    EndlessChunked { chunks: usize },
}

/// A loopback server; stops (with every connection) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A plain-HTTP server on 127.0.0.1.
    pub async fn plain(behaviour: Behaviour) -> TestServer {
        Self::start(None, behaviour).await
    }

    /// An HTTPS server on 127.0.0.1.
    pub async fn tls(config: Arc<rustls::ServerConfig>, behaviour: Behaviour) -> TestServer {
        Self::start(Some(config), behaviour).await
    }

    /// How many TCP connections the server has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    async fn start(tls: Option<Arc<rustls::ServerConfig>>, behaviour: Behaviour) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection task.
            let mut connections = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let behaviour = behaviour.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            // A failed handshake is what some tests provoke.
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, behaviour).await;
                            }
                        }
                        None => serve(tcp, behaviour).await,
                    }
                });
                // Reap finished connections so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
            }
        });
        TestServer {
            addr,
            accepted,
            task,
        }
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
            for _ in 0..chunks {
                let size = format!("{:x}\r\n", chunk.len());
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

async fn serve_http<S>(stream: S, delay: Option<std::time::Duration>, handler: Handler)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: http::Request<Incoming>| {
        let response = handler(&req);
        async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, Infallible>(response)
        }
    });
    // Errors here are the client going away, which several tests provoke.
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

/// A handler answering `{"ok":true}` on every path, echoing the User-Agent it saw.
pub fn hello() -> Handler {
    Arc::new(|req| {
        let ua = req
            .headers()
            .get(http::header::USER_AGENT)
            .cloned()
            .unwrap_or_else(|| http::HeaderValue::from_static("none"));
        http::Response::builder()
            .header("content-type", "application/json")
            .header("x-seen-user-agent", ua)
            .body(Full::new(Bytes::from_static(b"{\"ok\":true}")))
            .expect("valid response")
    })
}

/// A GET request with an empty body.
pub fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(url)
        .body(Bytes::new())
        .expect("valid request")
}

/// A TCP relay in front of a server that the test can freeze: a frozen connection still reads
/// from both sides but forwards nothing, as if a NAT between client and server had silently
/// dropped it. Stops (with every connection) when dropped.
pub struct Relay {
    pub addr: SocketAddr,
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
    /// A relay on 127.0.0.1 to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let frozen = Arc::new(Mutex::new(Vec::new()));
        let closed_by_client = Arc::new(tokio::sync::watch::Sender::new(0));
        let (counter, switches, closed) =
            (accepted.clone(), frozen.clone(), closed_by_client.clone());
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let switch = Arc::new(AtomicBool::new(false));
                switches.lock().expect("switches").push(switch.clone());
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
        Relay {
            addr,
            accepted,
            frozen,
            closed_by_client,
            task,
        }
    }

    /// Stops forwarding on every connection open now; later connections are not affected.
    pub fn freeze(&self) {
        for switch in self.frozen.lock().expect("switches").iter() {
            switch.store(true, Ordering::SeqCst);
        }
    }

    /// How many connections the relay has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until the client side has closed `count` connections.
    pub async fn client_closed(&self, count: usize) {
        let mut closed = self.closed_by_client.subscribe();
        closed
            .wait_for(|n| *n >= count)
            .await
            .expect("the relay is running");
    }
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
