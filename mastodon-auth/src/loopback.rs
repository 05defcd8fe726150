//! The installed-app callback: a small HTTP listener on `127.0.0.1` that receives the browser
//! coming back from the authorization page (RFC 8252 §7.3).
//!
//! Mastodon ignores the port of loopback redirect URIs, so an app registered with
//! [`REGISTERED_REDIRECT_URI`] may listen on any ephemeral port:
//!
//! ```no_run
//! # async fn f(client: mastodon_auth::Mastodon) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use mastodon_auth::loopback::CallbackListener;
//! use mastodon_auth::LoginGrant;
//!
//! let listener = CallbackListener::bind().await?;
//! let request = client.auth_request_url().redirect_uri(listener.redirect_uri()).build().await?;
//! eprintln!("Open this URL to authorize: {}", request.url);
//! let code = listener.wait_for(request.pending, Duration::from_secs(300)).await?;
//! client.log_in(LoginGrant::AuthorizationCode(code)).await?;
//! # Ok(()) }
//! ```
//!
//! ## What ends the wait
//!
//! Only a `GET /callback` whose `state` is the pending authorization's (compared in constant
//! time) ends [`CallbackListener::wait_for`], with the code or with the server's error
//! (`access_denied`, …). Anything else is answered and the wait goes on: a callback with a
//! wrong or missing `state` gets `400`, another path (the browser's `/favicon.ico`) `404`.
//! Connections are served concurrently, each with a short read timeout and a cap on the request
//! size, so a connection that sends nothing — a browser's speculative preconnect, or a local
//! process trying to stall the login — holds up no other.
//!
//! ## Why the authorization URL may appear in a process list
//!
//! [`browser::open`](crate::browser::open) starts the opener with the authorization URL as an
//! argument, which other local users can read (`ps`). What it shows — client id, redirect URI,
//! scopes, `state` and the PKCE *challenge* — is not a credential:
//!
//! - the code comes back only to this listener's port, which no other process can bind while
//!   the listener holds it;
//! - exchanging a code needs the PKCE *verifier*, which never leaves this process, and the
//!   app's client secret;
//! - without the `state`, a forged callback cannot end the wait (it gets `400`), so another
//!   process cannot abort the login or make it fail. With the `state` read from `ps`, the most
//!   it can do is race the person's browser to deliver a code for an account of its own; the
//!   login then reports that account's name, never leaks the person's.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mastodon_auth_core::{AuthorizedCode, Error, PendingAuthorization, RedirectUri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The redirect URI to register for loopback logins (any port is accepted by Mastodon).
pub const REGISTERED_REDIRECT_URI: RedirectUri =
    RedirectUri::from_static("http://127.0.0.1/callback");

/// The largest request head a connection may send; browsers send a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;

/// How long a connection may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection may take to accept the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (out of file descriptors, say) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Listens on an ephemeral loopback port for the browser coming back with the authorization.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use mastodon_auth::loopback::CallbackListener;
/// let listener = CallbackListener::bind().await?;
/// assert!(listener.redirect_uri().as_str().starts_with("http://127.0.0.1:"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
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

    /// `http://127.0.0.1:<port>/callback`: the redirect URI for
    /// [`AuthRequestBuilder::redirect_uri`](mastodon_auth_core::AuthRequestBuilder::redirect_uri).
    #[must_use]
    pub fn redirect_uri(&self) -> RedirectUri {
        RedirectUri::parse(&format!("http://127.0.0.1:{}/callback", self.port))
            .unwrap_or_else(|_| unreachable!("a loopback URI with a port is a redirect URI"))
    }

    /// Serves until the browser comes back with `pending`'s `state`, answers it with a short
    /// page, and returns the checked code, ready for
    /// [`LoginGrant::AuthorizationCode`](mastodon_auth_core::LoginGrant::AuthorizationCode).
    /// Requests without that `state` are answered and do not end the wait (see the
    /// [module docs](self)). The port is closed when this returns.
    ///
    /// # Errors
    /// [`CallbackError::TimedOut`] when no such callback came within `timeout`;
    /// [`CallbackError::Authorization`] when it came with the server's error (the person
    /// denied the request: [`Error::AuthorizationRefused`]) or without a code.
    pub async fn wait_for(
        self,
        pending: PendingAuthorization,
        timeout: Duration,
    ) -> Result<AuthorizedCode, CallbackError> {
        let state: Arc<str> = pending.state().as_str().into();
        let target = tokio::time::timeout(timeout, serve(self.listener, state))
            .await
            .map_err(|_| CallbackError::TimedOut { after: timeout })?;
        pending
            .callback(&target)
            .map_err(CallbackError::Authorization)
    }
}

/// Why [`CallbackListener::wait_for`] ended without a code.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallbackError {
    /// No callback with the authorization's `state` arrived in time.
    TimedOut {
        /// The time waited.
        after: Duration,
    },
    /// The callback brought an error instead of a code.
    Authorization(Error),
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut { after } => write!(
                f,
                "no authorization came back within {after:?}: the browser never returned to the loopback listener"
            ),
            Self::Authorization(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CallbackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::TimedOut { .. } => None,
            Self::Authorization(e) => Some(e),
        }
    }
}

/// Accepts connections and serves each in its own task until one delivers the callback with
/// `state`; returns that request's target. Dropping the future stops every connection.
async fn serve(listener: TcpListener, state: Arc<str>) -> String {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(answer(stream, state.clone()));
                }
                Err(e) => {
                    tracing::debug!(target: "mastodon_auth::loopback", error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = connections.join_next() => {
                if let Ok(Some(target)) = done {
                    return target;
                }
            }
        }
    }
}

/// What a request gets, and whether it ends the wait.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The callback of this authorization, with a code.
    Authorized,
    /// The callback of this authorization, with the server's error.
    Refused,
    /// `/callback` without this authorization's `state`.
    WrongState,
    /// Another path.
    NotFound,
    /// Not a `GET`, or a request head that is too large.
    BadRequest,
}

impl Verdict {
    fn of(target: &str, state: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path != "/callback" {
            return Self::NotFound;
        }
        let mut given = None;
        let mut error = false;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "state" => given = Some(value),
                "error" => error = true,
                _ => {}
            }
        }
        match given {
            Some(given) if same(given.as_bytes(), state.as_bytes()) && error => Self::Refused,
            Some(given) if same(given.as_bytes(), state.as_bytes()) => Self::Authorized,
            _ => Self::WrongState,
        }
    }

    fn ends_wait(&self) -> bool {
        matches!(self, Self::Authorized | Self::Refused)
    }

    fn page(&self) -> (&'static str, &'static str) {
        match self {
            Self::Authorized => (
                "200 OK",
                "Authorization received. You can close this window and return to the terminal.",
            ),
            Self::Refused => (
                "200 OK",
                "The authorization was not granted. You can close this window and return to the terminal.",
            ),
            Self::WrongState => (
                "400 Bad Request",
                "This is not the authorization this program is waiting for. Use the link the program printed.",
            ),
            Self::NotFound => ("404 Not Found", "Not found."),
            Self::BadRequest => ("400 Bad Request", "Bad request."),
        }
    }
}

/// Compares without stopping at the first difference, so the time taken does not tell a
/// local guesser how much of the `state` it got right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves one connection: reads one request head (bounded in time and size), answers it, and
/// returns the request target when it ends the wait.
async fn answer(mut stream: TcpStream, state: Arc<str>) -> Option<String> {
    let target = match tokio::time::timeout(READ_TIMEOUT, read_target(&mut stream)).await {
        Ok(Ok(target)) => Some(target),
        Ok(Err(Malformed::Closed)) | Err(_) => return None,
        Ok(Err(Malformed::Request)) => None,
    };
    let verdict = target
        .as_deref()
        .map_or(Verdict::BadRequest, |t| Verdict::of(t, &state));
    let (status, text) = verdict.page();
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mastodon-auth</title></head><body><p>{text}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: default-src 'none'\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // A browser that went away does not change what it sent.
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    target.filter(|_| verdict.ends_wait())
}

/// Why no request target could be read.
enum Malformed {
    /// The peer closed or broke the connection before a whole head arrived.
    Closed,
    /// A head arrived but is not a `GET`, or is too large.
    Request,
}

/// Reads the request head and returns the target of a `GET`.
async fn read_target(stream: &mut TcpStream) -> Result<String, Malformed> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(Malformed::Request);
        }
        let n = stream.read(&mut buf).await.map_err(|_| Malformed::Closed)?;
        if n == 0 {
            return Err(Malformed::Closed);
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| Malformed::Request)?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_owned()),
        _ => Err(Malformed::Request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mastodon_auth_core::{PendingAuthorizationParts, Scopes, State};

    fn pending(state: &str) -> PendingAuthorization {
        PendingAuthorization::from_parts(PendingAuthorizationParts::new(
            State::new(state),
            REGISTERED_REDIRECT_URI,
            Scopes::default(),
        ))
    }

    async fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn only_the_callback_with_the_state_ends_the_wait() {
        let listener = CallbackListener::bind().await.unwrap();
        let port = listener.port;
        let waiter = tokio::spawn(listener.wait_for(pending("S"), Duration::from_secs(30)));
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        for forged in [
            "/callback?code=EVIL&state=wrong",
            "/callback?code=EVIL",
            "/callback?error=access_denied",
            "/callback?error=x&state=SS",
        ] {
            let page = get(port, forged).await;
            assert!(page.starts_with("HTTP/1.1 400"), "{forged}: {page}");
        }
        assert!(!waiter.is_finished());
        let page = get(port, "/callback?code=C&state=S").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("Authorization received"), "{page}");
        let code = waiter.await.unwrap().unwrap();
        assert!(format!("{code:?}").contains("AuthorizedCode"));
    }

    #[tokio::test]
    async fn a_refusal_with_the_state_ends_the_wait_with_its_error() {
        let listener = CallbackListener::bind().await.unwrap();
        let port = listener.port;
        let waiter = tokio::spawn(listener.wait_for(pending("S"), Duration::from_secs(30)));
        let page = get(port, "/callback?error=access_denied&state=S").await;
        assert!(page.contains("not granted"), "{page}");
        match waiter.await.unwrap() {
            Err(CallbackError::Authorization(e)) if e.is_access_denied() => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_silent_connection_does_not_stall_the_others() {
        let listener = CallbackListener::bind().await.unwrap();
        let port = listener.port;
        let waiter = tokio::spawn(listener.wait_for(pending("S"), Duration::from_secs(30)));
        // Connected, sending nothing: a preconnect, or a process trying to hold the listener.
        let _silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let page = get(port, "/callback?code=C&state=S").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn an_oversized_request_is_refused_without_ending_the_wait() {
        let listener = CallbackListener::bind().await.unwrap();
        let port = listener.port;
        let waiter = tokio::spawn(listener.wait_for(pending("S"), Duration::from_secs(30)));
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let huge = format!(
            "GET /callback?code=C&state=S HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(MAX_HEAD)
        );
        // The listener may stop reading and close before everything is written.
        let _ = s.write_all(huge.as_bytes()).await;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        assert!(out.is_empty() || out.starts_with("HTTP/1.1 400"), "{out}");
        assert!(!waiter.is_finished());
        assert!(
            get(port, "/callback?code=C&state=S")
                .await
                .starts_with("HTTP/1.1 200")
        );
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn times_out_when_nobody_comes_back() {
        let listener = CallbackListener::bind().await.unwrap();
        let err = listener
            .wait_for(pending("S"), Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, CallbackError::TimedOut { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("no authorization came back within 50ms")
        );
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }
}
