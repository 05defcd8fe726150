//! What every request of a client shares, prepared once when the client is built: the base URL
//! split into `http`'s types, the headers every request carries, and the extensions that tell
//! the transport the timeout and the plain-HTTP policy. A request to an API path is then
//! assembled from these parts without parsing the base URL again.

use bytes::Bytes;
use http::uri::{Authority, Parts, PathAndQuery, Scheme};
use http::{HeaderValue, Method, Uri, header};

use crate::error::Error;
use crate::instance_url::{InstanceUrl, InstanceUrlError, UrlProblem};
use crate::redact;
use crate::transport::{AllowHttp, RequestTimeout, TransportError};

/// Where a call goes.
pub(super) enum Endpoint {
    /// A path under the instance's base URL (`/api/v1/…`), assembled from the prepared parts.
    Path(&'static ApiPath),
    /// An absolute URL: an OAuth endpoint the server's metadata names, or one built from the
    /// base URL elsewhere.
    Url(String),
}

/// A path under an instance's base URL that the client calls (`/api/v1/apps`), as opposed to
/// an absolute URL ([`Endpoint::Url`]).
pub(super) struct ApiPath {
    text: &'static str,
}

impl ApiPath {
    pub(super) const fn new(text: &'static str) -> Self {
        Self { text }
    }
}

/// The parts of a client's requests that never change.
pub(super) struct Template {
    scheme: Scheme,
    authority: Authority,
    /// The base URL's own path (`""` for an instance at the root of its host, `/social` for
    /// one under a prefix); never ends with `/`.
    prefix: String,
    user_agent: Option<HeaderValue>,
    timeout: RequestTimeout,
    /// Whether requests carry [`AllowHttp`] (the client's `allow_http`).
    allow_http: bool,
}

impl Template {
    /// Splits `base` (already validated, so this only fails on a bug).
    pub(super) fn new(
        base: &InstanceUrl,
        user_agent: Option<HeaderValue>,
        timeout: RequestTimeout,
        allow_http: bool,
    ) -> Result<Self, Error> {
        let invalid = |e: &dyn std::fmt::Display| {
            Error::InvalidUrl(InstanceUrlError {
                url: redact::url(base.as_str()),
                problem: UrlProblem::Syntax(e.to_string()),
            })
        };
        let uri: Uri = base.as_str().parse().map_err(|e| invalid(&e))?;
        let parts = uri.into_parts();
        let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
            return Err(invalid(&"no scheme or host"));
        };
        let prefix = parts
            .path_and_query
            .map(|p| p.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Ok(Self {
            scheme,
            authority,
            prefix,
            user_agent,
            timeout,
            allow_http,
        })
    }

    /// The URI of `endpoint` with `query` (already encoded; empty for none).
    pub(super) fn uri(&self, endpoint: &Endpoint, query: &str) -> Result<Uri, Error> {
        let built = match endpoint {
            Endpoint::Path(path) => self.path_uri(path, query),
            Endpoint::Url(url) if query.is_empty() => {
                Uri::try_from(url.as_str()).map_err(Into::into)
            }
            Endpoint::Url(url) => Uri::try_from(format!("{url}?{query}")).map_err(Into::into),
        };
        built.map_err(|e| {
            let url = match query {
                "" => self.url(endpoint),
                query => format!("{}?{query}", self.url(endpoint)),
            };
            TransportError::invalid_request(format_args!(
                "cannot build a request to {}: {e}",
                redact::url(&url)
            ))
            .into()
        })
    }

    fn path_uri(&self, path: &ApiPath, query: &str) -> Result<Uri, http::Error> {
        let path_and_query = if self.prefix.is_empty() && query.is_empty() {
            // The common case: the path as it is, without a copy.
            PathAndQuery::from_maybe_shared(Bytes::from_static(path.text.as_bytes()))?
        } else {
            let path = path.text;
            let mut joined =
                String::with_capacity(self.prefix.len() + path.len() + 1 + query.len());
            joined.push_str(&self.prefix);
            joined.push_str(path);
            if !query.is_empty() {
                joined.push('?');
                joined.push_str(query);
            }
            PathAndQuery::try_from(joined)?
        };
        let mut parts = Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Ok(Uri::from_parts(parts)?)
    }

    /// The URL of `endpoint` without query, for messages.
    pub(super) fn url(&self, endpoint: &Endpoint) -> String {
        match endpoint {
            Endpoint::Path(path) => {
                let path = path.text;
                format!("{}://{}{}{path}", self.scheme, self.authority, self.prefix)
            }
            Endpoint::Url(url) => url.clone(),
        }
    }

    /// The request, with `Accept`, the client's `User-Agent`, `Authorization` when `bearer`
    /// is given, `Content-Type` for a form body; the timeout and, with `allow_http`,
    /// [`AllowHttp`] in its extensions.
    pub(super) fn request(
        &self,
        method: Method,
        uri: Uri,
        body: Bytes,
        bearer: Option<&HeaderValue>,
    ) -> http::Request<Bytes> {
        let has_body = !body.is_empty();
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if has_body {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        if let Some(ua) = &self.user_agent {
            headers.insert(header::USER_AGENT, ua.clone());
        }
        if let Some(bearer) = bearer {
            headers.insert(header::AUTHORIZATION, bearer.clone());
        }
        let extensions = request.extensions_mut();
        extensions.insert(self.timeout);
        if self.allow_http {
            extensions.insert(AllowHttp);
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &'static str) -> &'static ApiPath {
        Box::leak(Box::new(ApiPath::new(text)))
    }

    fn template(base: &str) -> Template {
        let base = InstanceUrl::parse(base).expect("valid base");
        Template::new(&base, None, RequestTimeout::DEFAULT, false).expect("splits")
    }

    #[test]
    fn api_paths_join_the_base_with_and_without_prefix_and_query() {
        let root = template("https://x.example:8443");
        let uri = root
            .uri(&Endpoint::Path(path("/api/v1/apps")), "")
            .expect("builds");
        assert_eq!(uri, "https://x.example:8443/api/v1/apps");
        let uri = root
            .uri(&Endpoint::Path(path("/api/v1/apps")), "lang=de")
            .expect("builds");
        assert_eq!(uri, "https://x.example:8443/api/v1/apps?lang=de");
        let prefixed = template("https://x.example/social/");
        let uri = prefixed
            .uri(&Endpoint::Path(path("/api/v1/instance/")), "a=1")
            .expect("builds");
        assert_eq!(uri, "https://x.example/social/api/v1/instance/?a=1");
        assert_eq!(
            prefixed.url(&Endpoint::Path(path("/oauth/token"))),
            "https://x.example/social/oauth/token"
        );
    }

    #[test]
    fn absolute_urls_are_parsed_and_bad_ones_named_without_secrets() {
        let t = template("https://x.example");
        let named = Endpoint::Url("https://auth.example/oauth/token".into());
        assert_eq!(
            t.uri(&named, "code=1").expect("builds"),
            "https://auth.example/oauth/token?code=1"
        );
        let bad = Endpoint::Url("https://auth.example/oauth token".into());
        let err = t.uri(&bad, "code=SECRET").expect_err("a space").to_string();
        assert!(err.contains("cannot build a request to"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn a_bad_api_path_is_an_error_not_a_panic() {
        for base in ["https://x.example", "https://x.example/social"] {
            let t = template(base);
            let err = t
                .uri(&Endpoint::Path(path("/api/v1/a\x7fb")), "")
                .expect_err("a control character")
                .to_string();
            assert!(err.contains("cannot build a request to"), "{err}");
        }
    }

    #[test]
    fn every_request_carries_the_timeout_and_allow_http_only_when_set() {
        let base = InstanceUrl::parse("https://x.example").expect("valid base");
        let extensions = |timeout: RequestTimeout, allow_http: bool| {
            let t = Template::new(&base, None, timeout, allow_http).expect("splits");
            let uri = t.uri(&Endpoint::Path(path("/")), "").expect("builds");
            let request = t.request(Method::GET, uri, Bytes::new(), None);
            (
                request.extensions().get::<RequestTimeout>().copied(),
                request.extensions().get::<AllowHttp>().is_some(),
            )
        };
        let seven = RequestTimeout(std::time::Duration::from_secs(7));
        assert_eq!(
            extensions(RequestTimeout::DEFAULT, false),
            (Some(RequestTimeout::DEFAULT), false)
        );
        assert_eq!(extensions(seven, true), (Some(seven), true));
    }
}
