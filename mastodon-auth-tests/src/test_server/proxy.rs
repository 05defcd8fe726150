//! [`ConnectProxy`]: a forward proxy on loopback, to test an HTTP client's proxy support.
//!
//! It speaks the three ways clients use a proxy: HTTP `CONNECT` tunnels (RFC 9110, section
//! 9.3.6), absolute-form HTTP requests (RFC 9112, section 3.2.2) and SOCKS5 (RFC 1928, with
//! the RFC 1929 username/password method), telling them apart by the first byte. It records
//! what each client asked for and which credentials it sent, and can require credentials or
//! refuse.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::instance::StartError;

/// The largest request head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;
/// SOCKS5 version byte (RFC 1928, section 3).
const SOCKS5: u8 = 0x05;

/// How a [`ConnectProxy`] treats each request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyBehaviour {
    /// Tunnel and forward everything, asking for no credentials.
    Open,
    /// Serve only clients that send these credentials: `Proxy-Authorization: Basic` over
    /// HTTP (otherwise `407 Proxy Authentication Required`), the username/password method
    /// over SOCKS5 (otherwise an authentication failure).
    RequireBasic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Answer every HTTP request with this status (e.g. 403 or 502) and every SOCKS5 connect
    /// with "connection not allowed by ruleset".
    Refuse(u16),
}

/// How a client asked the proxy for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyProtocol {
    /// `CONNECT host:port`.
    Connect,
    /// An absolute-form HTTP request, such as `GET http://host:port/path`.
    Forward,
    /// A SOCKS5 `CONNECT`.
    Socks5,
}

/// One request a [`ConnectProxy`] received (the first of each client connection). Built by
/// tests too, to compare with [`ConnectProxy::requests`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// How it was asked.
    pub protocol: ProxyProtocol,
    /// `host:port` for a tunnel (a SOCKS5 address as sent: a name, or an IP address), the
    /// absolute URL for a forwarded request.
    pub target: String,
    /// The `Proxy-Authorization` header over HTTP, `user:password` over SOCKS5.
    pub credentials: Option<String>,
}

#[derive(Default)]
struct Log {
    requests: Vec<ProxyRequest>,
    tunnels: usize,
}

type SharedLog = Arc<Mutex<Log>>;

fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A forward proxy on `127.0.0.1` that stops, with every tunnel, when dropped.
///
/// ```
/// use mastodon_auth_tests::{ConnectProxy, ProxyBehaviour};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), mastodon_auth_tests::StartError> {
/// let proxy = ConnectProxy::start(ProxyBehaviour::Open).await?;
/// // Point the client under test at `proxy.url()`, send requests, then check what the
/// // proxy saw:
/// assert!(proxy.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(proxy.tunnels(), 0);
/// assert!(proxy.requests().is_empty());
/// proxy.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ConnectProxy {
    addr: SocketAddr,
    log: SharedLog,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for ConnectProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl ConnectProxy {
    /// Starts listening on an ephemeral loopback port.
    ///
    /// # Errors
    /// [`StartError::Bind`] when the port cannot be bound.
    pub async fn start(behaviour: ProxyBehaviour) -> Result<ConnectProxy, StartError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let log = SharedLog::default();
        let behaviour = Arc::new(behaviour);
        let task = tokio::spawn(accept_loop(listener, behaviour, log.clone()));
        Ok(ConnectProxy {
            addr,
            log,
            task: Some(task),
        })
    }

    /// The listening address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the URL to configure as an HTTP proxy (the same port speaks
    /// SOCKS5: `socks5://127.0.0.1:PORT`).
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many tunnels (CONNECT or SOCKS5) were opened to a target.
    #[must_use]
    pub fn tunnels(&self) -> usize {
        lock(&self.log).tunnels
    }

    /// Every request received so far, in order, including refused ones.
    #[must_use]
    pub fn requests(&self) -> Vec<ProxyRequest> {
        lock(&self.log).requests.clone()
    }

    /// Stops listening and closes every tunnel; dropping the proxy does the same without
    /// waiting.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn accept_loop(listener: TcpListener, behaviour: Arc<ProxyBehaviour>, log: SharedLog) {
    // Owning the connection tasks here means aborting this task aborts them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let _ = client.set_nodelay(true);
                    connections.spawn(serve(client, behaviour.clone(), log.clone()));
                }
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(client: TcpStream, behaviour: Arc<ProxyBehaviour>, log: SharedLog) {
    let mut first = [0u8; 1];
    // A client that hangs up or breaks the protocol only ends its own connection.
    let _ = match client.peek(&mut first).await {
        Ok(1) if first[0] == SOCKS5 => socks5(client, &behaviour, &log).await,
        Ok(1) => http(client, &behaviour, &log).await,
        _ => Ok(()),
    };
}

fn bad_request(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// Pipes bytes both ways until either side closes, counting the tunnel first.
async fn splice(
    mut client: TcpStream,
    mut upstream: TcpStream,
    log: &SharedLog,
) -> std::io::Result<()> {
    lock(log).tunnels += 1;
    let _ = upstream.set_nodelay(true);
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// The request line and head of an HTTP request, plus whatever followed the head.
struct Head {
    method: String,
    target: String,
    authorization: Option<String>,
    bytes: Vec<u8>,
    end: usize,
}

async fn read_head(client: &mut TcpStream) -> std::io::Result<Head> {
    let mut bytes = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad_request("closed before the end of the request head"));
        }
        bytes.extend_from_slice(&chunk[..n]);
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if bytes.len() > MAX_HEAD {
            return Err(bad_request("request head too large"));
        }
    };
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| bad_request("head not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    Ok(Head {
        method,
        target,
        authorization,
        bytes,
        end,
    })
}

async fn respond(client: &mut TcpStream, status: u16, extra: &str) -> std::io::Result<()> {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

async fn http(
    mut client: TcpStream,
    behaviour: &ProxyBehaviour,
    log: &SharedLog,
) -> std::io::Result<()> {
    let head = read_head(&mut client).await?;
    let connect = head.method.eq_ignore_ascii_case("CONNECT");
    lock(log).requests.push(ProxyRequest {
        protocol: if connect {
            ProxyProtocol::Connect
        } else {
            ProxyProtocol::Forward
        },
        target: head.target.clone(),
        credentials: head.authorization.clone(),
    });
    match behaviour {
        ProxyBehaviour::Refuse(status) => return respond(&mut client, *status, "").await,
        ProxyBehaviour::RequireBasic { user, password } => {
            let expected = format!("Basic {}", BASE64.encode(format!("{user}:{password}")));
            if head.authorization.as_deref() != Some(expected.as_str()) {
                let challenge = "Proxy-Authenticate: Basic realm=\"test proxy\"\r\n";
                return respond(&mut client, 407, challenge).await;
            }
        }
        ProxyBehaviour::Open => {}
    }
    if connect {
        let Ok(mut upstream) = TcpStream::connect(head.target.as_str()).await else {
            return respond(&mut client, 502, "").await;
        };
        // Anything the client sent after the head already belongs to the target.
        upstream.write_all(&head.bytes[head.end..]).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        return splice(client, upstream, log).await;
    }
    let Some(authority) = head
        .target
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
    else {
        return respond(&mut client, 400, "").await;
    };
    let Ok(mut upstream) = TcpStream::connect(authority).await else {
        return respond(&mut client, 502, "").await;
    };
    // Servers must accept absolute-form requests (RFC 9112, section 3.2.2), so the head is
    // passed on as it came, and the rest of the connection is piped.
    upstream.write_all(&head.bytes).await?;
    splice(client, upstream, log).await
}

async fn socks5(
    mut client: TcpStream,
    behaviour: &ProxyBehaviour,
    log: &SharedLog,
) -> std::io::Result<()> {
    // Method negotiation (RFC 1928, section 3).
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await?;
    const NO_AUTH: u8 = 0x00;
    const USER_PASS: u8 = 0x02;
    const NO_ACCEPTABLE: u8 = 0xFF;
    let wanted = match behaviour {
        ProxyBehaviour::RequireBasic { .. } => USER_PASS,
        _ => NO_AUTH,
    };
    if !methods.contains(&wanted) {
        return client.write_all(&[SOCKS5, NO_ACCEPTABLE]).await;
    }
    client.write_all(&[SOCKS5, wanted]).await?;
    let mut credentials = None;
    if let ProxyBehaviour::RequireBasic { user, password } = behaviour {
        // Username/password sub-negotiation (RFC 1929, section 2).
        let mut version_and_length = [0u8; 2];
        client.read_exact(&mut version_and_length).await?;
        let mut got_user = vec![0u8; usize::from(version_and_length[1])];
        client.read_exact(&mut got_user).await?;
        let got_password_len = client.read_u8().await?;
        let mut got_password = vec![0u8; usize::from(got_password_len)];
        client.read_exact(&mut got_password).await?;
        let got = format!(
            "{}:{}",
            String::from_utf8_lossy(&got_user),
            String::from_utf8_lossy(&got_password)
        );
        let accepted = got_user == user.as_bytes() && got_password == password.as_bytes();
        credentials = Some(got);
        client.write_all(&[0x01, u8::from(!accepted)]).await?;
        if !accepted {
            return Ok(());
        }
    }
    // The request (RFC 1928, sections 4 and 5).
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let target = match request[3] {
        0x01 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            Ipv4Addr::from(ip).to_string()
        }
        0x03 => {
            let len = client.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await?;
            String::from_utf8(name).map_err(|_| bad_request("host name not UTF-8"))?
        }
        0x04 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            format!("[{}]", Ipv6Addr::from(ip))
        }
        _ => return Err(bad_request("unknown address type")),
    };
    let port = client.read_u16().await?;
    let target = format!("{target}:{port}");
    lock(log).requests.push(ProxyRequest {
        protocol: ProxyProtocol::Socks5,
        target: target.clone(),
        credentials,
    });
    // Replies (RFC 1928, section 6), with an all-zero IPv4 bound address.
    let reply = |code: u8| [SOCKS5, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    const NOT_ALLOWED: u8 = 0x02;
    const REFUSED: u8 = 0x05;
    const UNSUPPORTED_COMMAND: u8 = 0x07;
    if request[1] != 0x01 {
        return client.write_all(&reply(UNSUPPORTED_COMMAND)).await;
    }
    if matches!(behaviour, ProxyBehaviour::Refuse(_)) {
        return client.write_all(&reply(NOT_ALLOWED)).await;
    }
    let Ok(upstream) = TcpStream::connect(target.as_str()).await else {
        return client.write_all(&reply(REFUSED)).await;
    };
    client.write_all(&reply(0x00)).await?;
    splice(client, upstream, log).await
}
