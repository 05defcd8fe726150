//! A one-shot HTTP listener on `127.0.0.1` that receives the OAuth callback (RFC 8252 §7.3).
//!
//! Mastodon ignores the port of loopback redirect URIs, so an app registered with
//! `http://127.0.0.1/callback` may use any ephemeral port.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The redirect URI to register for loopback logins (any port is accepted by Mastodon).
pub const REGISTERED_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// The largest request head the listener reads.
const MAX_HEAD: usize = 16 * 1024;

/// Listens on an ephemeral loopback port for one `GET /callback?...`.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use std::time::Duration;
/// use mastodon_auth::loopback::CallbackListener;
/// let listener = CallbackListener::bind().await?;
/// println!("redirect to {}", listener.redirect_uri());
/// let callback = listener.wait(Duration::from_secs(300)).await?;
/// println!("the browser came back with {callback}");
/// # Ok(()) }
/// ```
pub struct CallbackListener {
    listener: TcpListener,
    port: u16,
}

impl CallbackListener {
    /// Binds `127.0.0.1:0`.
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, port })
    }

    /// `http://127.0.0.1:<port>/callback`.
    #[must_use]
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    /// Waits for the browser to come back, answers it with a short page, and returns the
    /// callback's path and query (`/callback?code=…&state=…`). Other paths (a favicon) get a
    /// 404 and the wait goes on.
    ///
    /// # Errors
    /// A timeout (`ErrorKind::TimedOut`) or an I/O error.
    pub async fn wait(self, timeout: Duration) -> std::io::Result<String> {
        tokio::time::timeout(timeout, self.accept_callback())
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no authorization callback arrived in time",
                )
            })?
    }

    async fn accept_callback(self) -> std::io::Result<String> {
        loop {
            let (mut stream, _) = self.listener.accept().await?;
            let Ok(target) = read_target(&mut stream).await else {
                continue;
            };
            let is_callback = target == "/callback" || target.starts_with("/callback?");
            let (status, body) = if is_callback {
                (
                    "200 OK",
                    "<!DOCTYPE html><html><body><p>Authorization received. You can close this window and return to the terminal.</p></body></html>",
                )
            } else {
                (
                    "404 Not Found",
                    "<!DOCTYPE html><html><body><p>Not found.</p></body></html>",
                )
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
                body.len()
            );
            // A browser that went away does not change what it sent.
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            if is_callback {
                return Ok(target);
            }
        }
    }
}

/// Reads the request head and returns the request target of a `GET`.
async fn read_target(stream: &mut tokio::net::TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "bad request head",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next().unwrap_or_default().split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_owned()),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a GET",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(port: u16, target: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn returns_the_callback_and_ignores_other_paths() {
        let listener = CallbackListener::bind().await.unwrap();
        let port = listener.port;
        assert!(listener.redirect_uri().starts_with("http://127.0.0.1:"));
        let waiter = tokio::spawn(listener.wait(Duration::from_secs(10)));
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(
            get(port, "/callback?code=C&state=S")
                .await
                .starts_with("HTTP/1.1 200")
        );
        assert_eq!(waiter.await.unwrap().unwrap(), "/callback?code=C&state=S");
    }

    #[tokio::test]
    async fn times_out_when_nobody_comes_back() {
        let listener = CallbackListener::bind().await.unwrap();
        let err = listener.wait(Duration::from_millis(50)).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
