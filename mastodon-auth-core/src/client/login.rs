//! Getting a token (`POST /oauth/token`) and giving it back (`POST /oauth/revoke`).

use std::time::{Duration, SystemTime};

use http::Method;

use super::authorize::AuthorizedCode;
use super::request::{Call, Reply};
use super::{Mastodon, Token, VersionCheckMode, VersionSource};
use crate::client_credentials::ClientCredentials;
use crate::entities::TokenResponse;
use crate::error::Error;
use crate::redirect_uri::RedirectUri;
use crate::scope::Scopes;
use crate::secret::{AccessToken, Password, RefreshToken};

/// How to obtain a token with [`Mastodon::log_in`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LoginGrant {
    /// The authorization-code grant: the code from [`PendingAuthorization`](super::PendingAuthorization),
    /// with its redirect URI, scopes and PKCE verifier.
    AuthorizationCode(AuthorizedCode),
    /// The password grant. Gone from Mastodon 4.4; some other servers still offer it.
    Password {
        /// The e-mail address (Mastodon) or user name.
        username: String,
        /// The password.
        password: Password,
        /// The scopes to ask for.
        scopes: Scopes,
    },
    /// Trade a refresh token for a new access token (Pleroma-family servers; Mastodon never
    /// issues refresh tokens).
    RefreshToken {
        /// The refresh token.
        token: RefreshToken,
        /// The scopes to ask for.
        scopes: Scopes,
    },
    /// A token for the app itself, not for a user.
    ClientCredentials {
        /// The scopes to ask for.
        scopes: Scopes,
    },
}

impl LoginGrant {
    fn grant_type(&self) -> &'static str {
        match self {
            LoginGrant::AuthorizationCode(_) => "authorization_code",
            LoginGrant::Password { .. } => PASSWORD,
            LoginGrant::RefreshToken { .. } => "refresh_token",
            LoginGrant::ClientCredentials { .. } => "client_credentials",
        }
    }

    fn scopes(&self) -> &Scopes {
        match self {
            LoginGrant::AuthorizationCode(code) => &code.scopes,
            LoginGrant::Password { scopes, .. }
            | LoginGrant::RefreshToken { scopes, .. }
            | LoginGrant::ClientCredentials { scopes } => scopes,
        }
    }
}

/// The token request for `grant`, with the fields in the order Mastodon.py sends them, so
/// recorded traffic matches.
fn token_request(endpoint: String, grant: &LoginGrant, client: &ClientCredentials) -> Call {
    let mut call = Call::new(Method::POST, endpoint).oauth();
    match grant {
        LoginGrant::Password {
            username, password, ..
        } => {
            call = call
                .param("username", username.clone())
                .param("password", password.expose())
                .param("redirect_uri", RedirectUri::OOB.as_str());
        }
        LoginGrant::AuthorizationCode(code) => {
            call = call
                .param("code", code.code.expose())
                .param("redirect_uri", code.redirect_uri.as_str());
        }
        LoginGrant::RefreshToken { token, .. } => {
            call = call
                .param("redirect_uri", RedirectUri::OOB.as_str())
                .param("refresh_token", token.expose());
        }
        LoginGrant::ClientCredentials { .. } => {}
    }
    call = call
        .param("grant_type", grant.grant_type())
        .param("client_id", client.id.as_str())
        .param("client_secret", client.secret.expose());
    if let LoginGrant::AuthorizationCode(AuthorizedCode {
        verifier: Some(v), ..
    }) = grant
    {
        call = call.param("code_verifier", v.expose());
    }
    call.param("scope", grant.scopes().to_string())
}

/// `grant_type` of the password grant.
const PASSWORD: &str = "password";

/// What to do instead of `grant`, which the server does not offer. For the password grant
/// [`log_in`](Mastodon::log_in) says more ([`password_unsupported_message`]).
fn unsupported_grant_message(grant: &LoginGrant) -> &'static str {
    match grant {
        LoginGrant::Password { .. } => password_unsupported_message(false),
        LoginGrant::AuthorizationCode(_) => {
            "Authorization code flow is not supported by this instance. Please obtain a token in some other way."
        }
        LoginGrant::RefreshToken { .. } => {
            "Refresh tokens are not supported by this instance (Mastodon never issues them)."
        }
        LoginGrant::ClientCredentials { .. } => {
            "The client credentials grant is not supported by this instance."
        }
    }
}

/// Why the server lacks the password grant: Mastodon removed it in 4.4.0 (`gone`).
fn password_unsupported_message(gone: bool) -> &'static str {
    if gone {
        "Password flow is no longer supported in Mastodon 4.4.0 and later. Please use the code flow instead."
    } else {
        "Password flow is not supported by this instance. Please use the code flow instead."
    }
}

/// The token endpoint's answer, checked.
struct IssuedToken {
    access: AccessToken,
    refresh: Option<RefreshToken>,
    granted: Option<Scopes>,
    expires_at: Option<SystemTime>,
}

impl IssuedToken {
    fn parse(reply: &Reply) -> Result<Self, Error> {
        let response: TokenResponse = reply.json()?;
        let granted = match &response.scope {
            Some(s) => Some(
                Scopes::parse(s)
                    .map_err(|_| reply.malformed("the granted `scope` is not a scope list"))?,
            ),
            None => None,
        };
        let expires_at = match &response.expires_in {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => {
                let secs = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| reply.malformed("`expires_in` is not a number of seconds"))?;
                SystemTime::now().checked_add(Duration::from_secs(secs))
            }
        };
        Ok(Self {
            access: response.access_token,
            refresh: response.refresh_token,
            granted,
            expires_at,
        })
    }
}

impl Mastodon {
    /// Obtains an access token and makes it the client's (Mastodon.py's `log_in`).
    ///
    /// Checks first that the server offers the grant (from its metadata), then that the
    /// granted scopes cover the requested ones with the scope hierarchy. The new token is
    /// the client's even when the scope check fails, so it can still be revoked.
    ///
    /// ```
    /// # use mastodon_auth_core::{LoginGrant, Mastodon, TransportError};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let transport = |req: http::Request<bytes::Bytes>| async move {
    ///     let resp = match req.uri().path() {
    ///         "/oauth/token" => http::Response::new(bytes::Bytes::from_static(
    ///             br#"{"access_token":"TOKEN","token_type":"Bearer","scope":"read","created_at":1}"#)),
    ///         _ => http::Response::builder().status(404).body(bytes::Bytes::new()).unwrap(),
    ///     };
    ///     Ok::<_, TransportError>(resp)
    /// };
    /// let client = Mastodon::builder("social.example").client("CID", "CSEC").transport(transport).build().await?;
    /// let request = client.auth_request_url().scopes("read".parse()?).build().await?;
    /// let code = request.pending.code("CODE"); // typed in by the person (out of band)
    /// let token = client.log_in(LoginGrant::AuthorizationCode(code)).await?;
    /// assert_eq!(token.expose(), "TOKEN");
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::UnsupportedGrant`] when the server says it lacks the grant; [`Error::Api`]
    /// with the server's OAuth error (`invalid_grant` for a bad password or code, …);
    /// [`Error::ScopeMismatch`]; [`Error::MissingClientCredentials`] without the app's id and
    /// secret; [`Error::UnsafeOAuthUrl`] for a token endpoint in the metadata that the client
    /// will not use.
    pub async fn log_in(&self, grant: LoginGrant) -> Result<AccessToken, Error> {
        let requested = grant.scopes().clone();
        let (token, granted) = match self.obtain_token(grant).await {
            // Why the server lacks the password grant depends on its version: asked here, not
            // in `obtain_token`, which a refresh runs under the store's lease.
            Err(Error::UnsupportedGrant {
                grant: PASSWORD, ..
            }) => {
                let gone = self.verify_minimum_version("4.4.0").await.unwrap_or(false);
                return Err(Error::UnsupportedGrant {
                    grant: PASSWORD,
                    message: password_unsupported_message(gone).into(),
                });
            }
            result => result?,
        };
        if let Some(granted) = granted
            && !granted.covers(&requested)
        {
            return Err(Error::ScopeMismatch { granted, requested });
        }
        if self.inner.config.version_check_mode != VersionCheckMode::None
            && self.state().version.source != VersionSource::Confirmed
        {
            // Servers in limited-federation mode only show their version to logged-in users.
            self.retrieve_mastodon_version().await?;
        }
        Ok(token)
    }

    /// The token request of [`log_in`](Self::log_in) alone: checks that the server offers the
    /// grant, obtains a token and makes it the client's. Returns it with the scopes the server
    /// says it granted, unchecked: an automatic refresh takes what the server grants, and sends
    /// no other request while other tasks (and, through the store, other processes) wait for it.
    ///
    /// The refresh in `call.rs` runs this, so it sends only anonymous requests
    /// ([`call_anonymous`](Self::call_anonymous)), which never refresh: no cycle of futures.
    pub(super) async fn obtain_token(
        &self,
        grant: LoginGrant,
    ) -> Result<(AccessToken, Option<Scopes>), Error> {
        let info = self.oauth_authorization_server_info().await?;
        if let Some(false) = info
            .as_ref()
            .and_then(|i| i.grant_listed(grant.grant_type()))
        {
            return Err(Error::UnsupportedGrant {
                grant: grant.grant_type(),
                message: unsupported_grant_message(&grant).into(),
            });
        }
        let client = self.require_client("logging in")?;
        let endpoint = self.oauth_endpoint(
            info.as_ref().and_then(|i| i.token_endpoint.as_ref()),
            "/oauth/token",
        )?;
        let requested = grant.scopes().clone();
        let is_refresh = matches!(grant, LoginGrant::RefreshToken { .. });
        let call = token_request(endpoint, &grant, &client);
        let reply = self.call_anonymous(call).await?;
        let issued = IssuedToken::parse(&reply)?;
        let granted = issued.granted.clone();
        let token = self.adopt_token(issued, requested, is_refresh, &reply)?;
        Ok((token, granted))
    }

    /// The app's id and secret, which `needed_for` needs.
    pub(super) fn require_client(
        &self,
        needed_for: &'static str,
    ) -> Result<ClientCredentials, Error> {
        self.client_credentials()
            .ok_or(Error::MissingClientCredentials { needed_for })
    }

    /// Makes a freshly issued token the client's. The token is adopted before the scopes are
    /// checked, so that it can still be revoked when they fall short.
    fn adopt_token(
        &self,
        issued: IssuedToken,
        requested: Scopes,
        is_refresh: bool,
        reply: &Reply,
    ) -> Result<AccessToken, Error> {
        let mut state = self.state();
        let old_refresh = state.token.as_ref().and_then(|t| t.refresh.clone());
        // A refresh that returns no new refresh token keeps the old one usable.
        let refresh = issued
            .refresh
            .or(if is_refresh { old_refresh } else { None });
        let scopes = issued.granted.or(Some(requested));
        let token = Token::new(issued.access.clone(), refresh, issued.expires_at, scopes)
            .ok_or_else(|| reply.malformed("the access token cannot be sent in a header"))?;
        state.token = Some(token);
        if !is_refresh {
            state.account = None;
        }
        Ok(issued.access)
    }

    /// Revokes the client's access token and forgets it (Mastodon.py's
    /// `revoke_access_token`). The store is not touched; remove the account there if wanted.
    ///
    /// Only a 2xx answer counts as revoked: on any other (a redirect included, which the
    /// client never follows) the token is kept, since it may still be valid on the server.
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    /// # "/oauth/revoke" => (200, &br#"{}"#[..]),
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example").client("CID", "CSEC").access_token("TOKEN").transport(transport).build().await?;
    /// client.revoke_access_token().await?;
    /// assert_eq!(client.access_token(), None);
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`] without a token; [`Error::MissingClientCredentials`] without
    /// the app's id and secret; the server's error (Mastodon answers 403
    /// `unauthorized_client` for another app's token) or [`Error::UnexpectedRedirect`], in
    /// which case the token is kept.
    pub async fn revoke_access_token(&self) -> Result<(), Error> {
        let token = self.access_token().ok_or(Error::NotLoggedIn)?;
        let client = self.require_client("revoking a token")?;
        let info = self.oauth_authorization_server_info().await?;
        let named = info
            .as_ref()
            .and_then(|i| i.revocation_endpoint.as_ref())
            .map(|u| u.trim_end_matches('/').to_owned());
        let endpoint = self.oauth_endpoint(named.as_ref(), "/oauth/revoke")?;
        let call = Call::new(Method::POST, endpoint)
            .oauth()
            .param("client_id", client.id.as_str())
            .param("client_secret", client.secret.expose())
            .param("token", token.expose());
        // `call` hands back 2xx answers only: a redirect or an error status is an error here,
        // and the token stays.
        self.call(call).await?;
        let mut state = self.state();
        if state.token.as_ref().is_some_and(|t| t.access == token) {
            state.token = None;
        }
        state.account = None;
        Ok(())
    }
}
