//! A request described before it is sent ([`Call`]), its successful answer ([`Reply`]), and
//! what an error answer becomes. The loop that sends a `Call` is in `call.rs`.

use bytes::Bytes;
use http::{Method, StatusCode, Uri, header};
use serde::de::DeserializeOwned;

use super::template::{ApiPath, Endpoint};
use crate::error::{ApiError, Error, MalformedResponse};
use crate::redact;

/// How long a body excerpt in an error may be.
const EXCERPT_CHARS: usize = 120;

/// One request, described before it is sent.
pub(super) struct Call {
    pub method: Method,
    /// Where it goes, without query.
    pub endpoint: Endpoint,
    /// Query parameters for GET, form fields otherwise; in order.
    pub params: Vec<(&'static str, String)>,
    pub pacing: Pacing,
    pub secrets: Secrets,
    pub language: Language,
}

/// Whether a request goes through the rate limiter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pacing {
    /// API endpoints: paced by the configured limiter.
    Paced,
    /// OAuth endpoints are not rate-limited, as in Mastodon.py: a 429 there is an error at once.
    Unpaced,
}

/// Whether the request or its answer carries secrets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Secrets {
    /// Nothing secret: the body may appear in error excerpts, and parse errors may quote it.
    None,
    /// Secrets in the body or the answer (passwords, codes, tokens, client secrets): no
    /// excerpt of the answer in errors, no value quoted from it.
    Carried,
}

/// Whether the client's language is sent as `lang`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Language {
    Sent,
    Omitted,
}

impl Call {
    /// A request to an absolute URL (without query): paced, nothing secret, with the language.
    /// Whether it carries the user's token is up to the method that sends it (`call.rs`).
    pub(super) fn new(method: Method, url: String) -> Self {
        Self::to(method, Endpoint::Url(url))
    }

    /// A request to `path` under the instance's base URL, like [`new`](Self::new); its URL is
    /// assembled from parts the client prepared once.
    pub(super) fn api(method: Method, path: &'static ApiPath) -> Self {
        Self::to(method, Endpoint::Path(path))
    }

    fn to(method: Method, endpoint: Endpoint) -> Self {
        Self {
            method,
            endpoint,
            params: Vec::new(),
            pacing: Pacing::Paced,
            secrets: Secrets::None,
            language: Language::Sent,
        }
    }

    pub(super) fn param(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.params.push((key, value.into()));
        self
    }

    /// An OAuth endpoint: not rate-limited, secrets in the body or answer.
    pub(super) fn oauth(self) -> Self {
        Self {
            secrets: Secrets::Carried,
            ..self.unpaced()
        }
    }

    /// Not through the rate limiter.
    pub(super) fn unpaced(self) -> Self {
        Self {
            pacing: Pacing::Unpaced,
            ..self
        }
    }

    /// Without the client's `lang`.
    pub(super) fn without_language(self) -> Self {
        Self {
            language: Language::Omitted,
            ..self
        }
    }
}

/// A successful response.
pub(super) struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
    pub method: Method,
    /// The request's URI, for messages (which show its path only).
    pub uri: Uri,
    pub secrets: Secrets,
}

impl Reply {
    /// The answer to `call` (sent to `uri`): a reply for a success, an error for anything
    /// else (the client never follows a redirect).
    pub(super) fn from_answer(
        call: Call,
        uri: Uri,
        parts: &http::response::Parts,
        body: Bytes,
    ) -> Result<Self, Error> {
        let endpoint = || endpoint_label(&call.method, &uri);
        if parts.status.is_redirection() {
            return Err(Error::UnexpectedRedirect {
                status: parts.status.as_u16(),
                endpoint: endpoint(),
                location_host: location_host(&parts.headers, &uri),
            });
        }
        if !parts.status.is_success() {
            return Err(api_error(parts.status, &body, endpoint()).into());
        }
        Ok(Reply {
            status: parts.status,
            body,
            method: call.method,
            uri,
            secrets: call.secrets,
        })
    }

    /// Parses the body as `T`, or says precisely what is wrong with it.
    pub(super) fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        // Reading text, serde_json checks no string's UTF-8 again: checking the whole body
        // once is faster (a sixth of the parse of an account). A body that is not UTF-8 goes
        // to the byte reader, whose error says where the bad byte is.
        let parsed = match std::str::from_utf8(&self.body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(&self.body),
        };
        parsed.map_err(|e| self.malformed(&describe_json_error(&e, &self.body, self.secrets)))
    }

    pub(super) fn malformed(&self, problem: &str) -> Error {
        Error::MalformedResponse(MalformedResponse {
            status: self.status.as_u16(),
            endpoint: endpoint_label(&self.method, &self.uri),
            problem: problem.to_owned(),
            excerpt: (self.secrets == Secrets::None).then(|| excerpt(&self.body)),
        })
    }
}

fn describe_json_error(e: &serde_json::Error, body: &[u8], secrets: Secrets) -> String {
    use serde_json::error::Category;
    let trimmed = body.trim_ascii_start();
    match e.classify() {
        _ if trimmed.is_empty() => "the body is empty, expected JSON".to_owned(),
        Category::Eof => "the JSON is truncated".to_owned(),
        Category::Syntax if trimmed.first() == Some(&b'<') => {
            "expected JSON, got an HTML page".to_owned()
        }
        Category::Syntax | Category::Io => format!("the body is not valid JSON ({e})"),
        Category::Data if secrets == Secrets::None => e.to_string(),
        Category::Data => redact::json_error(e),
    }
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// Method and path of a request, for messages (never the query).
pub(super) fn endpoint_label(method: &Method, uri: &Uri) -> String {
    format!("{method} {}", uri.path())
}

/// The host a redirect points to: the `Location`'s host, or the request's own for a relative
/// location. Never more of the location, which could carry a code or a token.
fn location_host(headers: &http::HeaderMap, request: &Uri) -> Option<String> {
    let location: Uri = headers.get(header::LOCATION)?.to_str().ok()?.parse().ok()?;
    location.host().or(request.host()).map(str::to_owned)
}

/// Builds the [`ApiError`] for an error status from the body Mastodon sends.
pub(super) fn api_error(status: StatusCode, body: &[u8], endpoint: String) -> ApiError {
    let mut err = ApiError::new(status.as_u16(), endpoint);
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => {
            err.error = map.get("error").map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            err.error_description = map
                .get("error_description")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
        }
        Ok(serde_json::Value::String(s)) => err.error = Some(s),
        _ => {}
    }
    err
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn labels_drop_scheme_host_and_query() {
        assert_eq!(
            endpoint_label(
                &Method::GET,
                &Uri::from_static("https://x.example/api/v1/a?access_token=S")
            ),
            "GET /api/v1/a"
        );
        assert_eq!(
            endpoint_label(&Method::POST, &Uri::from_static("https://x.example")),
            "POST /"
        );
    }

    #[test]
    fn api_errors_keep_error_and_description() {
        let e = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"The provided authorization grant is invalid"}"#,
            "POST /oauth/token".into(),
        );
        assert_eq!(e.error.as_deref(), Some("invalid_grant"));
        assert_eq!(
            e.error_description.as_deref(),
            Some("The provided authorization grant is invalid")
        );
        let bare = api_error(StatusCode::NOT_IMPLEMENTED, br#""nope""#, "GET /".into());
        assert_eq!(bare.error.as_deref(), Some("nope"));
        let nested = api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"error":{"a":1}}"#,
            "GET /".into(),
        );
        assert_eq!(nested.error.as_deref(), Some(r#"{"a":1}"#));
        let html = api_error(StatusCode::BAD_GATEWAY, b"<html>502</html>", "GET /".into());
        assert_eq!(html.error, None);
    }

    #[test]
    fn json_errors_say_what_is_wrong_without_secrets() {
        let reply = |body: &'static [u8], sensitive: bool| Reply {
            status: StatusCode::OK,
            body: Bytes::from_static(body),
            method: Method::POST,
            uri: Uri::from_static("https://x.example/oauth/token"),
            secrets: if sensitive {
                Secrets::Carried
            } else {
                Secrets::None
            },
        };
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            n: u32,
        }
        let msg = |body, sensitive| reply(body, sensitive).json::<T>().unwrap_err().to_string();
        assert!(msg(b"{\"n\": 1", false).contains("truncated"));
        assert!(msg(b"<html>", false).contains("HTML"));
        assert!(msg(b"", false).contains("empty"));
        assert!(msg(b"{}", true).contains("missing field `n`"));
        let typed = msg(b"{\"n\": \"SECRET\"}", true);
        assert!(!typed.contains("SECRET"), "{typed}");
        assert!(msg(b"{\"n\": \"visible\"}", false).contains("visible"));
    }

    #[test]
    fn redirects_name_the_location_host_only() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("https://elsewhere.example/login?token=SECRET"),
        );
        assert_eq!(
            location_host(
                &headers,
                &Uri::from_static("https://x.example/oauth/revoke")
            )
            .as_deref(),
            Some("elsewhere.example")
        );
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("/login?code=SECRET"),
        );
        assert_eq!(
            location_host(
                &headers,
                &Uri::from_static("https://x.example/oauth/revoke")
            )
            .as_deref(),
            Some("x.example")
        );
        assert_eq!(
            location_host(
                &http::HeaderMap::new(),
                &Uri::from_static("https://x.example/")
            ),
            None
        );
    }
}
