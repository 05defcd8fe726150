//! OAuth discovery, the authorization URL, and the callback that comes back from it.

use std::fmt;
use std::sync::Arc;

use http::Method;
use subtle::ConstantTimeEq;

use super::request::Call;
use super::{Mastodon, OOB_REDIRECT_URI};
use crate::error::Error;
use crate::form;
use crate::metadata::OAuthServerInfo;
use crate::scope::Scopes;
use crate::secret::{AuthorizationCode, PkceVerifier};

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
        if let Some(cached) = self.state().metadata.clone() {
            return Ok(cached);
        }
        let call = Call::new(
            Method::GET,
            self.base_url()
                .join("/.well-known/oauth-authorization-server"),
        )
        .anonymous();
        let call = Call {
            rate_limited: false,
            ..call
        };
        let info = match self.call(call).await {
            Ok(reply) => OAuthServerInfo::from_json(&reply.body).map(Arc::new),
            // A server error may pass; do not remember it as "no metadata".
            Err(Error::Api(e)) if e.is_server_error() => return Ok(None),
            Err(Error::Api(_)) => None,
            Err(e) => return Err(e),
        };
        self.state().metadata = Some(info.clone());
        Ok(info)
    }

    /// The metadata, unless told to skip it.
    pub(super) async fn metadata(&self, skip: bool) -> Result<Option<Arc<OAuthServerInfo>>, Error> {
        if skip {
            Ok(None)
        } else {
            self.oauth_authorization_server_info().await
        }
    }

    /// The URL of an OAuth endpoint: the one the metadata names (checked as Mastodon.py
    /// checks it, §2.2) or `{base}{fallback}`.
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
    /// let (url, pending) = client.auth_request_url().build().await?;
    /// println!("Open {url}");
    /// // The browser comes back to the redirect URI; hand what it got to the pending request:
    /// let callback = format!("https://app.example/cb?code=THE_CODE&state={}", pending.state());
    /// let code = pending.callback(&callback)?;
    /// # let _ = code;
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    pub fn auth_request_url(&self) -> AuthRequestBuilder<'_> {
        AuthRequestBuilder {
            client: self,
            client_id: None,
            redirect_uri: OOB_REDIRECT_URI.to_owned(),
            scopes: Scopes::default(),
            force_login: false,
            lang: None,
            skip_server_info: false,
            pkce: None,
        }
    }
}

/// Mastodon.py's checks of URLs taken from server metadata, with its messages.
fn check_oauth_url(url: &str, allow_http: bool) -> Result<(), Error> {
    let fail = |m: &str| {
        Err(Error::InvalidArgument(format!(
            "{m} (got {})",
            form::redact_url(url)
        )))
    };
    if url.contains('?') {
        return fail("OAuth URLs with query parameters are not supported by Mastodon.py.");
    }
    if url.contains('#') {
        return fail("OAuth URLs with fragments are not permitted.");
    }
    if url.contains('@') {
        return fail("OAuth URLs with username/password are not permitted.");
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || (allow_http && lower.starts_with("http://")) {
        Ok(())
    } else if allow_http {
        fail("OAuth URLs must use with http or https.")
    } else {
        fail("OAuth URLs must use with https.")
    }
}

/// Builds the URL that sends a person to the server to authorize the app
/// (Mastodon.py's `auth_request_url`), with a fresh random `state` and, when the server
/// advertises S256, PKCE.
#[must_use = "no URL is made until .build() is awaited"]
pub struct AuthRequestBuilder<'a> {
    client: &'a Mastodon,
    client_id: Option<String>,
    redirect_uri: String,
    scopes: Scopes,
    force_login: bool,
    lang: Option<String>,
    skip_server_info: bool,
    pkce: Option<bool>,
}

impl AuthRequestBuilder<'_> {
    /// Another app's client id (default: the client's).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Where the server sends the browser back (default out-of-band: the code is shown).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = uri.into();
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

    /// The language of the consent page.
    pub fn lang(mut self, lang: impl Into<String>) -> Self {
        self.lang = Some(lang.into());
        self
    }

    /// Do not fetch the server metadata: use `{base}/oauth/authorize`, and no PKCE unless
    /// asked for with [`pkce`](Self::pkce).
    pub fn skip_server_info(mut self, skip: bool) -> Self {
        self.skip_server_info = skip;
        self
    }

    /// Force PKCE on or off (default: on when the server advertises S256).
    pub fn pkce(mut self, on: bool) -> Self {
        self.pkce = Some(on);
        self
    }

    /// The URL to open, and the pending authorization that checks what comes back.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] without a client id or with a bad authorization endpoint in
    /// the metadata; network errors from fetching the metadata.
    pub async fn build(self) -> Result<(String, PendingAuthorization), Error> {
        let client_id = self
            .client_id
            .or_else(|| self.client.client_id())
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "no client id: register an app first (create_app) or configure one".into(),
                )
            })?;
        if self.redirect_uri.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "the redirect URI must not be empty".into(),
            ));
        }
        let info = self.client.metadata(self.skip_server_info).await?;
        let endpoint = self.client.oauth_endpoint(
            info.as_ref()
                .and_then(|i| i.authorization_endpoint.as_ref()),
            "/oauth/authorize",
        )?;
        let pkce = self
            .pkce
            .unwrap_or_else(|| info.as_ref().is_some_and(|i| i.supports_pkce_s256()));
        let verifier = pkce.then(PkceVerifier::new_random);
        let state = crate::random::token_b64(24);
        let scope = self.scopes.to_string();
        let challenge = verifier.as_ref().map(PkceVerifier::s256_challenge);
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", &client_id),
            ("response_type", "code"),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &scope),
        ];
        if self.force_login {
            pairs.push(("force_login", "true"));
        }
        pairs.push(("state", &state));
        if let Some(lang) = &self.lang {
            pairs.push(("lang", lang));
        }
        if let Some(challenge) = &challenge {
            pairs.push(("code_challenge", challenge));
            pairs.push(("code_challenge_method", "S256"));
        }
        let url = format!("{endpoint}?{}", form::encode(&pairs));
        let pending = PendingAuthorization {
            state,
            verifier,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
        };
        Ok((url, pending))
    }
}

/// An authorization in progress: what is needed to check the callback and to exchange its
/// code. Consumed by [`callback`](Self::callback) or [`code`](Self::code), so it cannot be
/// used twice; not `Clone`.
pub struct PendingAuthorization {
    state: String,
    verifier: Option<PkceVerifier>,
    redirect_uri: String,
    scopes: Scopes,
}

impl PendingAuthorization {
    /// The `state` sent with the request; the callback must bring it back.
    #[must_use]
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The redirect URI of the request.
    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The scopes asked for.
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Takes the authorization apart, for a web application that must keep it in its session
    /// store between the redirect and the callback: `(state, verifier, redirect_uri, scopes)`.
    /// The verifier is a secret: keep it server-side.
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon, PendingAuthorization, TransportError};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let t = |_r: http::Request<bytes::Bytes>| async { Err::<http::Response<bytes::Bytes>, _>(TransportError::Other("x".into())) };
    /// # let client = Mastodon::builder("social.example").client("CID", "CSEC").transport(t).build().await?;
    /// let (_url, pending) = client.auth_request_url().skip_server_info(true).pkce(true).build().await?;
    /// let (state, verifier, redirect_uri, scopes) = pending.into_parts();
    /// // … later, in the request that receives the callback:
    /// let pending = PendingAuthorization::from_parts(state.clone(), verifier, redirect_uri, scopes);
    /// assert!(pending.callback(&format!("code=C&state={state}")).is_ok());
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    #[must_use]
    pub fn into_parts(self) -> (String, Option<PkceVerifier>, String, Scopes) {
        (self.state, self.verifier, self.redirect_uri, self.scopes)
    }

    /// Puts an authorization taken apart with [`into_parts`](Self::into_parts) back together.
    #[must_use]
    pub fn from_parts(
        state: String,
        verifier: Option<PkceVerifier>,
        redirect_uri: String,
        scopes: Scopes,
    ) -> Self {
        Self {
            state,
            verifier,
            redirect_uri,
            scopes,
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
    /// [`Error::AccessDenied`] when the person (or server) refused; [`Error::StateMismatch`]
    /// when the state is missing or not this request's (compared in constant time);
    /// [`Error::InvalidArgument`] when there is no code or another OAuth error.
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
        let state_ok = state
            .as_ref()
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(self.state.as_bytes())));
        if let Some(error) = error {
            // A denial without our state could be forged, but it ends the flow either way.
            if error == "access_denied" {
                return Err(Error::AccessDenied { description });
            }
            return Err(Error::InvalidArgument(format!(
                "the server refused the authorization: {error}{}",
                description.map(|d| format!(": {d}")).unwrap_or_default()
            )));
        }
        if !state_ok {
            return Err(Error::StateMismatch);
        }
        let code = code.filter(|c| !c.is_empty()).ok_or_else(|| {
            Error::InvalidArgument("the authorization callback carries no code".into())
        })?;
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

/// An authorization code with what its exchange needs (redirect URI, PKCE verifier, scopes).
#[derive(Debug)]
pub struct AuthorizedCode {
    pub(super) code: AuthorizationCode,
    pub(super) verifier: Option<PkceVerifier>,
    pub(super) redirect_uri: String,
    pub(super) scopes: Scopes,
}

impl AuthorizedCode {
    /// A code obtained without a [`PendingAuthorization`] (for example by another process).
    #[must_use]
    pub fn new(
        code: impl Into<AuthorizationCode>,
        redirect_uri: impl Into<String>,
        scopes: Scopes,
    ) -> Self {
        Self {
            code: code.into(),
            verifier: None,
            redirect_uri: redirect_uri.into(),
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

    fn pending() -> PendingAuthorization {
        PendingAuthorization {
            state: "S".into(),
            verifier: None,
            redirect_uri: "http://127.0.0.1:1/cb".into(),
            scopes: Scopes::default(),
        }
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
        match err {
            Error::AccessDenied { description } => {
                assert_eq!(
                    description.as_deref(),
                    Some("The resource owner or authorization server denied the request.")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            pending().callback("?error=invalid_scope&state=S"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            pending().callback("?state=S"),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn oauth_url_checks_follow_mastodon_py() {
        assert!(check_oauth_url("https://x/oauth/token", false).is_ok());
        assert!(check_oauth_url("http://x/oauth/token", true).is_ok());
        let msg = |u, a| check_oauth_url(u, a).unwrap_err().to_string();
        assert!(msg("https://x/t?a=1", true).starts_with("OAuth URLs with query parameters"));
        assert!(msg("https://x/t#f", true).starts_with("OAuth URLs with fragments"));
        assert!(msg("https://u@x/t", true).starts_with("OAuth URLs with username/password"));
        assert!(msg("http://x/t", false).starts_with("OAuth URLs must use with https."));
        assert!(msg("ftp://x/t", true).starts_with("OAuth URLs must use with http or https."));
    }
}
