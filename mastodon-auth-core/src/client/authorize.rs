//! OAuth discovery, the authorization URL, and the callback that comes back from it.

use std::fmt;
use std::sync::Arc;

use super::request::Call;
use super::template::ApiPath;
use super::{Mastodon, MetadataCache};
use crate::client_credentials::ClientId;
use crate::error::Error;
use crate::form;
use crate::instance_url::{UrlProblem, is_loopback_host};
use crate::metadata::OAuthServerInfo;
use crate::redact;
use crate::redirect_uri::RedirectUri;
use crate::scope::Scopes;
use crate::secret::{AuthorizationCode, PkceVerifier};
use crate::state::State;
use http::Method;

static OAUTH_SERVER_METADATA: ApiPath = ApiPath::new("/.well-known/oauth-authorization-server");

impl Mastodon {
    /// The server's OAuth metadata (`/.well-known/oauth-authorization-server`, Mastodon ≥ 4.3),
    /// cached until [`clear_caches`](Self::clear_caches).
    ///
    /// `Ok(None)` when the server has none: a 404 (older Mastodon), an HTML page (Akkoma) or
    /// any other error status; the flows then fall back to `/oauth/*`.
    ///
    /// ```
    /// # use mastodon_auth_core::Mastodon;
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    /// #         "/.well-known/oauth-authorization-server" => (200, &br#"{"issuer":"https://social.example/","grant_types_supported":["authorization_code","client_credentials"],"code_challenge_methods_supported":["S256"]}"#[..]),
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example").transport(transport).build().await?;
    /// let info = client.oauth_authorization_server_info().await?.expect("Mastodon ≥ 4.3 has metadata");
    /// assert!(info.supports_pkce_s256());
    /// assert_eq!(info.supports_grant("password"), false);
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Network errors and a 429 (a server that is up but refusing should not be mistaken for
    /// one without metadata).
    pub async fn oauth_authorization_server_info(
        &self,
    ) -> Result<Option<Arc<OAuthServerInfo>>, Error> {
        match self.state().metadata.clone() {
            MetadataCache::Known(info) => return Ok(Some(info)),
            MetadataCache::Absent => return Ok(None),
            MetadataCache::Unknown => {}
        }
        // Anonymous, so that a refresh (which needs the token endpoint) can ask for it.
        let call = Call::api(Method::GET, &OAUTH_SERVER_METADATA).unpaced();
        let cache = match self.call_anonymous(call).await {
            Ok(reply) => match OAuthServerInfo::from_json(&reply.body) {
                Some(info) => MetadataCache::Known(Arc::new(info)),
                None => MetadataCache::Absent,
            },
            // A server error may pass; do not remember it as "no metadata".
            Err(Error::Api(e)) if e.is_server_error() => return Ok(None),
            // A redirect (to a login page, another host) is not a metadata document either.
            Err(Error::Api(_) | Error::UnexpectedRedirect { .. }) => MetadataCache::Absent,
            Err(e) => return Err(e),
        };
        self.state().metadata = cache.clone();
        Ok(match cache {
            MetadataCache::Known(info) => Some(info),
            MetadataCache::Absent | MetadataCache::Unknown => None,
        })
    }

    /// The URL of an OAuth endpoint: the one the metadata names (checked as Mastodon.py checks
    /// it in `mastodon/authentication.py`, with the transport's plain-HTTP policy) or
    /// `{base}{fallback}`.
    pub(super) fn oauth_endpoint(
        &self,
        named: Option<&String>,
        fallback: &str,
    ) -> Result<String, Error> {
        match named {
            None => Ok(self.base_url().join(fallback)),
            Some(url) => {
                check_oauth_url(url, self.inner.config.allow_http)?;
                Ok(url.clone())
            }
        }
    }

    /// Starts an authorization: see [`AuthRequestBuilder`].
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon, TransportError};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |_r: http::Request<bytes::Bytes>| async {
    /// #     Ok::<_, TransportError>(http::Response::builder().status(404).body(bytes::Bytes::new()).unwrap()) };
    /// let client = Mastodon::builder("social.example").client("CID", "CSEC").transport(transport).build().await?;
    /// let request = client.auth_request_url().build().await?;
    /// println!("Open {}", request.url);
    /// // The browser comes back to the redirect URI; hand what it got to the pending request:
    /// let pending = request.pending;
    /// let callback = format!("https://app.example/cb?code=THE_CODE&state={}", pending.state().as_str());
    /// let code = pending.callback(&callback)?;
    /// # let _ = code;
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    pub fn auth_request_url(&self) -> AuthRequestBuilder<'_> {
        AuthRequestBuilder {
            client: self,
            client_id: None,
            redirect_uri: RedirectUri::OOB,
            scopes: Scopes::default(),
            force_login: false,
            language: None,
            skip_server_info: false,
            pkce: Pkce::Auto,
        }
    }
}

/// Mastodon.py's checks of URLs taken from server metadata (`mastodon/authentication.py`:
/// no query, fragment or user info), and the transport's plain-HTTP policy: `http` only to
/// this machine, unless `allow_http`.
fn check_oauth_url(url: &str, allow_http: bool) -> Result<(), Error> {
    let fail = |problem| {
        Err(Error::UnsafeOAuthUrl {
            url: redact::url(url),
            problem,
        })
    };
    if url.contains('?') {
        return fail(UrlProblem::Query);
    }
    if url.contains('#') {
        return fail(UrlProblem::Fragment);
    }
    let uri: http::Uri = match url.parse() {
        Ok(uri) => uri,
        Err(e) => return fail(UrlProblem::Syntax(e.to_string())),
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return fail(UrlProblem::UserInfo);
    }
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return fail(UrlProblem::NoHost);
    };
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => Ok(()),
        Some(s) if s.eq_ignore_ascii_case("http") => {
            if allow_http || is_loopback_host(host) {
                Ok(())
            } else {
                fail(UrlProblem::PlainHttp)
            }
        }
        _ => fail(UrlProblem::Scheme),
    }
}

/// Builds the URL that sends a person to the server to authorize the app
/// (Mastodon.py's `auth_request_url`), with a fresh random `state` and, when the server
/// advertises S256, PKCE.
#[derive(Debug)]
#[must_use = "no URL is made until .build() is awaited"]
pub struct AuthRequestBuilder<'a> {
    client: &'a Mastodon,
    client_id: Option<ClientId>,
    redirect_uri: RedirectUri,
    scopes: Scopes,
    force_login: bool,
    language: Option<String>,
    skip_server_info: bool,
    pkce: Pkce,
}

/// Whether an authorization request uses PKCE (RFC 7636, with the S256 method).
///
/// ```
/// use mastodon_auth_core::Pkce;
/// assert_eq!(Pkce::default(), Pkce::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Pkce {
    /// When the server's OAuth metadata advertises S256 (Mastodon ≥ 4.3); never with
    /// [`skip_server_info`](AuthRequestBuilder::skip_server_info), which reads no metadata.
    #[default]
    Auto,
    /// Always, whatever the server advertises (servers that do not know PKCE ignore it).
    Always,
    /// Never.
    Never,
}

impl AuthRequestBuilder<'_> {
    /// Another app's client id (default: the client's).
    pub fn client_id(mut self, id: impl Into<ClientId>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Where the server sends the browser back (default [`RedirectUri::OOB`]: the code is
    /// shown). It must be one the app was registered with.
    pub fn redirect_uri(mut self, uri: RedirectUri) -> Self {
        self.redirect_uri = uri;
        self
    }

    /// The scopes to ask for (default `read write follow push`); they must be among the app's.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Always show the consent page, so the person can switch accounts.
    pub fn force_login(mut self, force: bool) -> Self {
        self.force_login = force;
        self
    }

    /// The language of the consent page (sent as `lang`).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Do not fetch the server metadata: use `{base}/oauth/authorize`, and no PKCE unless
    /// asked for with [`pkce`](Self::pkce)`(`[`Pkce::Always`]`)`.
    pub fn skip_server_info(mut self, skip: bool) -> Self {
        self.skip_server_info = skip;
        self
    }

    /// Whether to use PKCE (default [`Pkce::Auto`]: when the server advertises S256).
    pub fn pkce(mut self, pkce: Pkce) -> Self {
        self.pkce = pkce;
        self
    }

    /// The URL to open, and the pending authorization that checks what comes back.
    ///
    /// # Errors
    /// [`Error::MissingClientCredentials`] without a client id; [`Error::UnsafeOAuthUrl`]
    /// for an authorization endpoint in the metadata that the client will not use; network
    /// errors from fetching the metadata.
    pub async fn build(self) -> Result<AuthorizationRequest, Error> {
        let client_id = match self.client_id {
            Some(id) => id,
            None => self.client.client_credentials().map(|c| c.id).ok_or(
                Error::MissingClientCredentials {
                    needed_for: "an authorization request",
                },
            )?,
        };
        let info = if self.skip_server_info {
            None
        } else {
            self.client.oauth_authorization_server_info().await?
        };
        let endpoint = self.client.oauth_endpoint(
            info.as_ref()
                .and_then(|i| i.authorization_endpoint.as_ref()),
            "/oauth/authorize",
        )?;
        let pkce = match self.pkce {
            Pkce::Auto => info.as_ref().is_some_and(|i| i.supports_pkce_s256()),
            Pkce::Always => true,
            Pkce::Never => false,
        };
        let verifier = pkce.then(PkceVerifier::new_random);
        let state = State::new_random();
        let scope = self.scopes.to_string();
        let challenge = verifier.as_ref().map(PkceVerifier::s256_challenge);
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", &scope),
        ];
        if self.force_login {
            pairs.push(("force_login", "true"));
        }
        pairs.push(("state", state.as_str()));
        if let Some(language) = &self.language {
            pairs.push(("lang", language));
        }
        if let Some(challenge) = &challenge {
            pairs.push(("code_challenge", challenge));
            pairs.push(("code_challenge_method", "S256"));
        }
        let url = format!("{endpoint}?{}", form::encode(pairs));
        let pending = PendingAuthorization {
            state,
            verifier,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
        };
        Ok(AuthorizationRequest { url, pending })
    }
}

/// What [`AuthRequestBuilder::build`] makes: the URL to send the person to, and the pending
/// authorization that checks what comes back.
#[derive(Debug)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// The authorization URL to open in the person's browser.
    pub url: String,
    /// What checks the callback and exchanges its code.
    pub pending: PendingAuthorization,
}

/// An authorization in progress: what is needed to check the callback and to exchange its
/// code. Consumed by [`callback`](Self::callback) or [`code`](Self::code), so it cannot be
/// used twice; not `Clone`.
pub struct PendingAuthorization {
    state: State,
    verifier: Option<PkceVerifier>,
    redirect_uri: RedirectUri,
    scopes: Scopes,
}

impl PendingAuthorization {
    /// The `state` sent with the request; the callback must bring it back.
    #[must_use]
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The redirect URI of the request.
    #[must_use]
    pub fn redirect_uri(&self) -> &RedirectUri {
        &self.redirect_uri
    }

    /// The scopes asked for.
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Takes the authorization apart, for a web application that keeps it in its session
    /// store between the redirect and the callback: see [`PendingAuthorizationParts`].
    #[must_use]
    pub fn into_parts(self) -> PendingAuthorizationParts {
        PendingAuthorizationParts {
            state: self.state,
            redirect_uri: self.redirect_uri,
            pkce_verifier: self.verifier,
            scopes: self.scopes,
        }
    }

    /// Puts an authorization taken apart with [`into_parts`](Self::into_parts) back together.
    #[must_use]
    pub fn from_parts(parts: PendingAuthorizationParts) -> Self {
        Self {
            state: parts.state,
            verifier: parts.pkce_verifier,
            redirect_uri: parts.redirect_uri,
            scopes: parts.scopes,
        }
    }

    /// `true` when the request uses PKCE.
    #[must_use]
    pub fn uses_pkce(&self) -> bool {
        self.verifier.is_some()
    }

    /// Checks what the browser brought back to the redirect URI (the whole URL, or just its
    /// query) and yields the code to exchange with [`Mastodon::log_in`].
    ///
    /// # Errors
    /// [`Error::AuthorizationRefused`] when the person (or the server) refused, with the
    /// OAuth `error` (`access_denied`, `invalid_scope`, …); [`Error::StateMismatch`] when the
    /// state is missing or not this request's (compared in constant time);
    /// [`Error::InvalidCallback`] when there is no code.
    pub fn callback(self, url_or_query: &str) -> Result<AuthorizedCode, Error> {
        let query = match url_or_query.split_once('?') {
            Some((_, q)) => q,
            None if url_or_query.contains('=') => url_or_query,
            None => "",
        };
        // Parameters may also arrive in the fragment (response_mode=fragment).
        let query = query.replace('#', "&");
        let (mut code, mut state, mut error, mut description) = (None, None, None, None);
        for (k, v) in form_urlencoded::parse(query.trim_start_matches('#').as_bytes()) {
            match k.as_ref() {
                "code" => code = Some(v.into_owned()),
                "state" => state = Some(v.into_owned()),
                "error" => error = Some(v.into_owned()),
                "error_description" => description = Some(v.into_owned()),
                _ => {}
            }
        }
        let state_ok = state.as_deref().is_some_and(|s| self.state.matches(s));
        if let Some(error) = error {
            // A refusal without our state could be forged, but it ends the flow either way.
            return Err(Error::AuthorizationRefused {
                error: error.into(),
                description,
            });
        }
        if !state_ok {
            return Err(Error::StateMismatch);
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or(Error::InvalidCallback)?;
        Ok(self.code(AuthorizationCode::new(code)))
    }

    /// The code typed in by the person, for the out-of-band flow (no state comes back).
    #[must_use]
    pub fn code(self, code: impl Into<AuthorizationCode>) -> AuthorizedCode {
        AuthorizedCode {
            code: code.into(),
            verifier: self.verifier,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
        }
    }
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("state", &"[redacted]")
            .field("pkce", &self.verifier.is_some())
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A [`PendingAuthorization`] taken apart, to be kept between the redirect and the callback,
/// typically in a web application's server-side session (not a cookie: the PKCE verifier is
/// a secret). Serde reads and writes it; `Debug` shows neither the state nor the verifier.
///
/// A web application starts the authorization in one request and receives the callback in
/// another:
///
/// ```
/// use mastodon_auth_core::{
///     Mastodon, PendingAuthorization, PendingAuthorizationParts, Pkce, RedirectUri,
/// };
/// # use mastodon_auth_core::TransportError;
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// # let t = |_r: http::Request<bytes::Bytes>| async { Err::<http::Response<bytes::Bytes>, _>(TransportError::Other("x".into())) };
/// # let client = Mastodon::builder("social.example").client("CID", "CSEC").transport(t).build().await?;
/// # let mut session = std::collections::HashMap::<&str, String>::new();
/// // The request that sends the person to the server:
/// let request = client
///     .auth_request_url()
///     .redirect_uri(RedirectUri::parse("https://app.example/callback")?)
///     .skip_server_info(true)
///     .pkce(Pkce::Always)
///     .build()
///     .await?;
/// let parts = request.pending.into_parts();
/// session.insert("pending", serde_json::to_string(&parts).expect("serialisable"));
/// // … respond with a redirect to `request.url` …
/// # let state = parts.state.as_str().to_owned();
///
/// // The request the browser comes back with, to https://app.example/callback?code=…&state=…:
/// # let callback = format!("https://app.example/callback?code=C&state={state}");
/// let kept: PendingAuthorizationParts =
///     serde_json::from_str(&session.remove("pending").expect("in the session")).expect("ours");
/// let pending = PendingAuthorization::from_parts(kept);
/// let code = pending.callback(&callback)?;
/// // … `client.log_in(LoginGrant::AuthorizationCode(code))` …
/// # let _ = code;
/// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PendingAuthorizationParts {
    /// The `state` sent with the request.
    pub state: State,
    /// The redirect URI of the request.
    pub redirect_uri: RedirectUri,
    /// The PKCE verifier, when the request uses PKCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<PkceVerifier>,
    /// The scopes asked for.
    pub scopes: Scopes,
}

impl PendingAuthorizationParts {
    /// The parts of a request made elsewhere, without PKCE (set
    /// [`pkce_verifier`](Self::pkce_verifier) when it used PKCE).
    #[must_use]
    pub fn new(state: State, redirect_uri: RedirectUri, scopes: Scopes) -> Self {
        Self {
            state,
            redirect_uri,
            pkce_verifier: None,
            scopes,
        }
    }
}

impl fmt::Debug for PendingAuthorizationParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorizationParts")
            .field("state", &self.state)
            .field("redirect_uri", &self.redirect_uri)
            .field("pkce_verifier", &self.pkce_verifier)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// An authorization code with what its exchange needs (redirect URI, PKCE verifier, scopes).
#[derive(Debug)]
pub struct AuthorizedCode {
    pub(super) code: AuthorizationCode,
    pub(super) verifier: Option<PkceVerifier>,
    pub(super) redirect_uri: RedirectUri,
    pub(super) scopes: Scopes,
}

impl AuthorizedCode {
    /// A code obtained without a [`PendingAuthorization`] (for example by another process).
    #[must_use]
    pub fn new(
        code: impl Into<AuthorizationCode>,
        redirect_uri: RedirectUri,
        scopes: Scopes,
    ) -> Self {
        Self {
            code: code.into(),
            verifier: None,
            redirect_uri,
            scopes,
        }
    }

    /// Adds the PKCE verifier of the request that produced the code.
    #[must_use]
    pub fn with_verifier(mut self, verifier: PkceVerifier) -> Self {
        self.verifier = Some(verifier);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_code::OAuthErrorCode;

    fn pending() -> PendingAuthorization {
        PendingAuthorization {
            state: State::new("S"),
            verifier: None,
            redirect_uri: RedirectUri::parse("http://127.0.0.1:1/cb").unwrap(),
            scopes: Scopes::default(),
        }
    }

    #[test]
    fn parts_survive_serde_and_keep_their_secrets_out_of_debug() {
        let mut parts = pending().into_parts();
        parts.pkce_verifier = Some(PkceVerifier::new("the-verifier"));
        let json = serde_json::to_string(&parts).unwrap();
        assert_eq!(
            json,
            r#"{"state":"S","redirect_uri":"http://127.0.0.1:1/cb","pkce_verifier":"the-verifier","scopes":"read write follow push"}"#
        );
        let back: PendingAuthorizationParts = serde_json::from_str(&json).unwrap();
        let debug = format!("{back:?}");
        assert!(
            !debug.contains("the-verifier") && !debug.contains("\"S\""),
            "{debug}"
        );
        let rebuilt = PendingAuthorization::from_parts(back);
        assert!(rebuilt.uses_pkce());
        assert_eq!(rebuilt.redirect_uri().as_str(), "http://127.0.0.1:1/cb");
        let code = rebuilt.callback("?code=C&state=S").unwrap();
        assert_eq!(code.verifier.unwrap().expose(), "the-verifier");
        // Without PKCE the field is left out, and a kept redirect URI is checked again.
        let json = serde_json::to_string(&pending().into_parts()).unwrap();
        assert!(!json.contains("pkce_verifier"), "{json}");
        assert!(serde_json::from_str::<PendingAuthorizationParts>(&json).is_ok());
        let tampered = json.replace("http://127.0.0.1:1/cb", "http://evil.example/cb");
        assert!(serde_json::from_str::<PendingAuthorizationParts>(&tampered).is_err());
    }

    #[test]
    fn callback_yields_code_when_state_matches() {
        let code = pending()
            .callback("http://127.0.0.1:1/cb?code=C&state=S")
            .unwrap();
        assert_eq!(code.code.expose(), "C");
        assert!(pending().callback("code=C&state=S").is_ok());
        assert!(
            pending()
                .callback("http://127.0.0.1:1/cb#code=C&state=S")
                .is_ok()
        );
    }

    #[test]
    fn callback_rejects_wrong_or_missing_state() {
        assert!(matches!(
            pending().callback("?code=C&state=T"),
            Err(Error::StateMismatch)
        ));
        assert!(matches!(
            pending().callback("?code=C"),
            Err(Error::StateMismatch)
        ));
        assert!(matches!(
            pending().callback("?code=C&state=SS"),
            Err(Error::StateMismatch)
        ));
    }

    #[test]
    fn callback_turns_access_denied_into_its_error() {
        let err = pending()
            .callback("?error=access_denied&error_description=The+resource+owner+or+authorization+server+denied+the+request.&state=S")
            .unwrap_err();
        assert!(err.is_access_denied() && err.is_authentication());
        match err {
            Error::AuthorizationRefused { error, description } => {
                assert_eq!(error, OAuthErrorCode::AccessDenied);
                assert_eq!(
                    description.as_deref(),
                    Some("The resource owner or authorization server denied the request.")
                );
            }
            other => panic!("{other:?}"),
        }
        let refused = pending()
            .callback("?error=invalid_scope&state=S")
            .unwrap_err();
        assert!(
            matches!(
                &refused,
                Error::AuthorizationRefused {
                    error: OAuthErrorCode::InvalidScope,
                    description: None
                }
            ),
            "{refused:?}"
        );
        assert!(!refused.is_access_denied() && !refused.is_invalid_input());
        assert!(matches!(
            pending().callback("?state=S"),
            Err(Error::InvalidCallback)
        ));
    }

    #[test]
    fn oauth_url_checks_follow_mastodon_py() {
        assert!(check_oauth_url("https://x/oauth/token", false).is_ok());
        assert!(check_oauth_url("http://x/oauth/token", true).is_ok());
        let problem = |u, a| match check_oauth_url(u, a) {
            Err(Error::UnsafeOAuthUrl { problem, .. }) => problem,
            other => panic!("{u}: {other:?}"),
        };
        assert_eq!(problem("https://x/t?a=1", true), UrlProblem::Query);
        assert_eq!(problem("https://x/t#f", true), UrlProblem::Fragment);
        assert_eq!(problem("https://u@x/t", true), UrlProblem::UserInfo);
        assert_eq!(problem("http://x/t", false), UrlProblem::PlainHttp);
        assert_eq!(problem("ftp://x/t", true), UrlProblem::Scheme);
        assert_eq!(problem("/oauth/token", true), UrlProblem::NoHost);
    }

    #[test]
    fn issue_11_oauth_urls_follow_the_transports_plain_http_policy() {
        for url in [
            "http://127.0.0.1:3000/oauth/authorize",
            "http://localhost:3000/oauth/token",
            "http://127.8.9.10/oauth/token",
            "http://[::1]:3000/oauth/revoke",
            "HTTP://LOCALHOST/oauth/token",
        ] {
            assert!(check_oauth_url(url, false).is_ok(), "{url}");
        }
        for url in [
            "http://example.com/oauth/token",
            "http://localhost.example.com/oauth/token",
            "http://10.0.0.1/oauth/token",
        ] {
            let err = check_oauth_url(url, false).unwrap_err().to_string();
            assert!(
                err.contains("allow_http(true)") && err.contains("use https"),
                "{err}"
            );
            assert!(!err.contains("must use with"), "{err}");
            assert!(check_oauth_url(url, true).is_ok(), "{url}");
        }
        // The password of a URL never appears in the message.
        let err = check_oauth_url("https://u:hunter2@x/t", false)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
