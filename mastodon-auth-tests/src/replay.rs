//! Cassettes (vcrpy YAML recordings) and a server that plays one back.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_yaml_ng::Value as Y;

use crate::instance::StartError;
use crate::server::reply::Reply;
use crate::server::{self, DropConnection, Handler, RespBody, ServerTask};

/// The origin the cassettes were recorded against; the replay server puts its own in its place.
pub const RECORDED_ORIGIN: &str = "http://localhost:3000";

/// Headers the replay server recomputes or must not repeat.
const HOP_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "content-encoding",
    "keep-alive",
];

/// A cassette could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum CassetteError {
    /// The file could not be read.
    Io {
        /// The cassette's path.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The text is not a vcrpy cassette; says what was wrong and where.
    Format(String),
}

impl fmt::Display for CassetteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => {
                write!(f, "cannot read cassette {}: {source}", path.display())
            }
            Self::Format(msg) => write!(f, "malformed cassette: {msg}"),
        }
    }
}

impl std::error::Error for CassetteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Format(_) => None,
        }
    }
}

/// A recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedCall {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full recorded URI (`http://localhost:3000/api/v1/apps`).
    pub uri: String,
    /// Headers in recorded order, each with its list of values.
    pub headers: Vec<(String, Vec<String>)>,
    /// The body, `None` when the cassette says `null`.
    pub body: Option<String>,
}

impl RecordedCall {
    /// The form fields of the body (`application/x-www-form-urlencoded`), in order; empty
    /// without a body.
    #[must_use]
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_deref().unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The path and query of [`uri`](Self::uri), without scheme and authority.
    #[must_use]
    pub fn path_and_query(&self) -> &str {
        let after_scheme = self
            .uri
            .split_once("://")
            .map_or(self.uri.as_str(), |(_, r)| r);
        after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
    }

    /// The first value of a header (case-insensitive name).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }
}

/// A recorded response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase as recorded (`OK`, `Unprocessable Content`).
    pub message: String,
    /// Headers in recorded order, each with its list of values.
    pub headers: Vec<(String, Vec<String>)>,
    /// The body text.
    pub body: String,
}

impl RecordedResponse {
    /// The response as an [`http::Response`], with every recorded header (those that are not
    /// valid HTTP are left out): what a scripted transport returns in a unit test.
    ///
    /// ```
    /// let cassette = mastodon_auth_tests::Cassette::recorded("mastodon-4.7.3/test_verify_credentials.yaml")?;
    /// let response = cassette.interactions[0].response.to_http();
    /// assert_eq!(response.status(), 200);
    /// assert!(response.headers().contains_key("x-ratelimit-limit"));
    /// # Ok::<(), mastodon_auth_tests::CassetteError>(())
    /// ```
    #[must_use]
    pub fn to_http(&self) -> Response<bytes::Bytes> {
        let mut response = Response::new(bytes::Bytes::from(self.body.clone()));
        *response.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::OK);
        for (name, values) in &self.headers {
            let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            for value in values {
                if let Ok(value) = http::HeaderValue::from_str(value) {
                    response.headers_mut().append(name.clone(), value);
                }
            }
        }
        response
    }

    /// The first value of a header (case-insensitive name).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }
}

fn first_header<'a>(headers: &'a [(String, Vec<String>)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// One request/response pair.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Interaction {
    /// What the client sent.
    pub request: RecordedCall,
    /// What the server answered.
    pub response: RecordedResponse,
}

/// A vcrpy cassette: the interactions of one recorded test, in order.
///
/// ```
/// use mastodon_auth_tests::Cassette;
/// let yaml = r#"
/// interactions:
/// - request:
///     body: null
///     headers: {Accept: ['*/*']}
///     method: GET
///     uri: http://localhost:3000/api/v1/instance/
///   response:
///     body: {string: '{"version":"4.7.3"}'}
///     headers: {content-type: [application/json; charset=utf-8]}
///     status: {code: 200, message: OK}
/// version: 1
/// "#;
/// let cassette = Cassette::parse(yaml)?;
/// assert_eq!(cassette.interactions[0].request.path_and_query(), "/api/v1/instance/");
/// assert_eq!(cassette.interactions[0].response.status, 200);
/// # Ok::<(), mastodon_auth_tests::CassetteError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Cassette {
    /// The interactions in recorded order.
    pub interactions: Vec<Interaction>,
}

fn get<'a>(v: &'a Y, key: &str) -> Option<&'a Y> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn text(v: Option<&Y>, at: &str) -> Result<String, CassetteError> {
    match v {
        Some(Y::String(s)) => Ok(s.clone()),
        Some(Y::Number(n)) => Ok(n.to_string()),
        Some(Y::Bool(b)) => Ok(b.to_string()),
        _ => Err(CassetteError::Format(format!("{at}: expected a string"))),
    }
}

fn headers(v: Option<&Y>, at: &str) -> Result<Vec<(String, Vec<String>)>, CassetteError> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let map = v
        .as_mapping()
        .ok_or_else(|| CassetteError::Format(format!("{at}: headers must be a mapping")))?;
    let mut out = Vec::new();
    for (k, vals) in map {
        let name = text(Some(k), at)?;
        let values = match vals {
            Y::Sequence(items) => items
                .iter()
                .map(|i| text(Some(i), &format!("{at}.{name}")))
                .collect::<Result<Vec<_>, _>>()?,
            other => vec![text(Some(other), &format!("{at}.{name}"))?],
        };
        out.push((name, values));
    }
    Ok(out)
}

/// A body is `null`, a string, or `{string: ...}`.
fn body(v: Option<&Y>, at: &str) -> Result<Option<String>, CassetteError> {
    match v {
        None | Some(Y::Null) => Ok(None),
        Some(Y::String(s)) => Ok(Some(s.clone())),
        Some(m @ Y::Mapping(_)) => match get(m, "string") {
            Some(Y::Null) | None => Ok(None),
            s => text(s, &format!("{at}.string")).map(Some),
        },
        Some(_) => Err(CassetteError::Format(format!(
            "{at}: body must be null, a string or {{string: ...}}"
        ))),
    }
}

impl Cassette {
    /// One of the cassettes recorded from real servers that ship with this crate, by its
    /// path under `fixtures/cassettes/` (`mastodon-4.7.3/…` from Mastodon 4.7.3,
    /// `mastodon-pre-4.4/…` from a server that still had the password grant; their README
    /// says where each comes from).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn recorded(name: &str) -> Result<Self, CassetteError> {
        Self::load(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/cassettes")
                .join(name),
        )
    }

    /// Reads and parses a cassette file.
    ///
    /// # Errors
    /// [`CassetteError::Io`] when the file cannot be read, [`CassetteError::Format`] when
    /// it is not a vcrpy cassette.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CassetteError> {
        let path = path.as_ref();
        let yaml = std::fs::read_to_string(path).map_err(|source| CassetteError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&yaml).map_err(|e| match e {
            CassetteError::Format(msg) => {
                CassetteError::Format(format!("{}: {msg}", path.display()))
            }
            other => other,
        })
    }

    /// Parses cassette text.
    ///
    /// # Errors
    /// [`CassetteError::Format`] naming the interaction and field that is wrong.
    pub fn parse(yaml: &str) -> Result<Self, CassetteError> {
        let doc: Y = serde_yaml_ng::from_str(yaml)
            .map_err(|e| CassetteError::Format(format!("not YAML: {e}")))?;
        let list = get(&doc, "interactions")
            .and_then(Y::as_sequence)
            .ok_or_else(|| CassetteError::Format("no `interactions` list".into()))?;
        let mut interactions = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let at = format!("interactions[{i}]");
            let req = get(item, "request")
                .ok_or_else(|| CassetteError::Format(format!("{at}: no request")))?;
            let resp = get(item, "response")
                .ok_or_else(|| CassetteError::Format(format!("{at}: no response")))?;
            let status = get(resp, "status");
            let code = status
                .and_then(|s| get(s, "code"))
                .and_then(Y::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .ok_or_else(|| {
                    CassetteError::Format(format!("{at}.response.status.code: expected a status"))
                })?;
            interactions.push(Interaction {
                request: RecordedCall {
                    method: text(get(req, "method"), &format!("{at}.request.method"))?,
                    uri: text(get(req, "uri"), &format!("{at}.request.uri"))?,
                    headers: headers(get(req, "headers"), &format!("{at}.request.headers"))?,
                    body: body(get(req, "body"), &format!("{at}.request.body"))?,
                },
                response: RecordedResponse {
                    status: code,
                    message: status
                        .and_then(|s| get(s, "message"))
                        .and_then(Y::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    headers: headers(get(resp, "headers"), &format!("{at}.response.headers"))?,
                    body: body(get(resp, "body"), &format!("{at}.response.body"))?
                        .unwrap_or_default(),
                },
            });
        }
        Ok(Self { interactions })
    }
}

/// A request the replay server received, exactly as sent: the fields hold what the client
/// sent, for assertions. Its `Debug` output redacts `Authorization` and secret body fields.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Headers in order, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub body: String,
}

impl fmt::Debug for ReplayedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), crate::instance::record::redact_header(k, v)))
            .collect();
        let form: Vec<(String, String)> = self
            .form()
            .iter()
            .map(|(k, v)| (k.clone(), crate::instance::record::redact_param(k, v)))
            .collect();
        f.debug_struct("ReplayedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.as_ref().map(String::len))
            .field("headers", &headers)
            .field("form", &form)
            .finish_non_exhaustive()
    }
}

impl ReplayedRequest {
    /// The first header with this name (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body fields, when the body is form-urlencoded.
    #[must_use]
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

#[derive(Debug, Default)]
struct ReplayState {
    queue: std::collections::VecDeque<RecordedResponse>,
    received: Vec<ReplayedRequest>,
}

struct ReplayHandler {
    state: Mutex<ReplayState>,
    base_url: std::sync::OnceLock<String>,
}

impl ReplayHandler {
    fn lock(&self) -> MutexGuard<'_, ReplayState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Serves a [`Cassette`]'s responses in recorded order over plain HTTP on `127.0.0.1`,
/// whatever is asked, and records every request for assertions.
///
/// `http://localhost:3000` in recorded bodies and headers becomes the server's own base URL,
/// so URLs from a recorded metadata document lead back to it. When the recording runs out,
/// requests get 500 `{"error":"replay: no more recorded interactions"}`.
///
/// ```no_run
/// use mastodon_auth_tests::{Cassette, ReplayServer};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cassette = Cassette::load("fixtures/cassettes/mastodon-4.7.3/test_log_in_none.yaml")?;
/// let server = ReplayServer::start(cassette).await?;
/// // ... point the client at server.base_url() and run the operation ...
/// let sent = server.requests();
/// assert!(sent.iter().all(|r| r.method == "GET"));
/// # Ok(()) }
/// ```
pub struct ReplayServer {
    handler: Arc<ReplayHandler>,
    server: Option<ServerTask>,
    base_url: String,
}

impl fmt::Debug for ReplayServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayServer")
            .field("base_url", &self.base_url)
            .field("remaining", &self.remaining())
            .finish_non_exhaustive()
    }
}

impl ReplayServer {
    /// Starts serving `cassette` on a free port of `127.0.0.1`.
    ///
    /// # Errors
    /// [`StartError::Bind`] when no port can be bound.
    pub async fn start(cassette: Cassette) -> Result<Self, StartError> {
        let handler = Arc::new(ReplayHandler {
            state: Mutex::new(ReplayState {
                queue: cassette
                    .interactions
                    .into_iter()
                    .map(|i| i.response)
                    .collect(),
                received: Vec::new(),
            }),
            base_url: std::sync::OnceLock::new(),
        });
        let server = server::spawn(
            handler.clone(),
            None,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        )
        .await
        .map_err(StartError::Bind)?;
        let base_url = format!("http://{}", server.addr);
        let _ = handler.base_url.set(base_url.clone());
        Ok(Self {
            handler,
            server: Some(server),
            base_url,
        })
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every request received so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<ReplayedRequest> {
        self.handler.lock().received.clone()
    }

    /// How many recorded responses have not been served yet.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.handler.lock().queue.len()
    }

    /// Stops serving and closes open connections.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

impl Handler for ReplayHandler {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        _peer: SocketAddr,
    ) -> Result<Response<RespBody>, DropConnection> {
        let (parts, body) = req.into_parts();
        let bytes = Limited::new(body, 1 << 20)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let request = ReplayedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        let next = {
            let mut st = self.lock();
            st.received.push(request);
            st.queue.pop_front()
        };
        let base = self.base_url.get().map_or(RECORDED_ORIGIN, String::as_str);
        let reply = match next {
            None => Reply::json(500, r#"{"error":"replay: no more recorded interactions"}"#),
            Some(resp) => {
                let mut headers = Vec::new();
                for (k, values) in &resp.headers {
                    if HOP_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)) {
                        continue;
                    }
                    for v in values {
                        headers.push((k.to_ascii_lowercase(), v.replace(RECORDED_ORIGIN, base)));
                    }
                }
                Reply {
                    status: resp.status,
                    headers,
                    body: server::reply::Body::Full(
                        resp.body.replace(RECORDED_ORIGIN, base).into(),
                    ),
                }
            }
        };
        server::to_response(reply)
    }
}
