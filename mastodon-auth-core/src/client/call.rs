//! The loop every request goes through, and the token refresh it starts: [`call`] (with the
//! user's token) and [`call_anonymous`] (without) prepare a [`Call`] and hand it to [`send`],
//! which paces it, sends it, feeds the answer back to the rate limiter and maps errors.
//!
//! [`call`]: Mastodon::call
//! [`call_anonymous`]: Mastodon::call_anonymous
//! [`send`]: Mastodon::send
//!
//! # Refreshing
//!
//! An expiring token is refreshed once, however many tasks ask and, through the store's lease
//! ([`lease_user`](crate::CredentialStore::lease_user)), however many processes share the
//! account.
//!
//! A Pleroma-family refresh token works once: the server rotates the pair on every refresh.
//! Two refreshes of the same token, by two tasks or two processes, leave one of them holding
//! a dead token, so a refresh happens under two locks: the client's own mutex (tasks of one
//! client) and the store's lease on the account (every process sharing the store). Under the
//! lease the stored token is compared with the one this client was about to send: when they
//! differ, another process has refreshed and its token is taken instead. A request that was
//! already on its way with the old token when another process refreshed is refused (the
//! refresh revoked it), and is sent once more with the stored token.
//!
//! The refresh's own requests (the server's metadata, the token request) are anonymous: they
//! go through [`call_anonymous`], which never refreshes, so `call` → refresh → `send` has no
//! cycle and needs no boxed future.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, StatusCode};

use super::builder::unusable_token;
use super::request::{Call, Language, Pacing, Reply, endpoint_label};
use super::{LoginGrant, Mastodon, Token};
use crate::error::Error;
use crate::form;
use crate::ratelimit::{NoRateLimit, RateLimitInfo, RateLimitKey, RateLimiter, Verdict};
use crate::redact;
use crate::secret::RefreshToken;
use crate::store::UserCredentials;

/// Tokens this close to their expiry are refreshed before use.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

impl Mastodon {
    /// Sends `call` with the user's token (refreshed first when it is about to expire; none
    /// when not logged in) and returns a successful (< 400) reply.
    pub(super) async fn call(&self, call: Call) -> Result<Reply, Error> {
        let token = self.bearer_token().await?;
        self.send(call, token).await
    }

    /// Sends `call` without a token (app registration, OAuth metadata, the token endpoint)
    /// and returns a successful (< 400) reply. It never refreshes: the refresh's own requests
    /// go through here.
    pub(super) async fn call_anonymous(&self, call: Call) -> Result<Reply, Error> {
        self.send(call, None).await
    }

    /// The loop every request goes through: language, pacing, sending, rate-limit feedback
    /// (a `Retry` verdict resends), one resend with the token that replaced `token` when the
    /// server refuses it, error mapping, and redacted debug logging.
    async fn send(&self, call: Call, mut token: Option<Arc<Token>>) -> Result<Reply, Error> {
        let language = match call.language {
            Language::Sent => self.state().language.clone(),
            Language::Omitted => None,
        };
        let params = call.params.iter().map(|(k, v)| (*k, v.as_str()));
        let encoded = form::encode(params.chain(language.as_deref().map(|l| ("lang", l))));
        let template = &self.inner.template;
        // What the debug log shows of the request, redacted once for every attempt, before
        // the form moves into the body.
        let logged = self.inner.config.debug_requests.then(|| {
            // The URL carries no query of its own (the base URL and the metadata's
            // endpoints are refused with one); the parameters, query or form, are logged
            // with their secret values redacted.
            (
                redact::url(&template.url(&call.endpoint)),
                redact::form(&encoded),
            )
        });
        let (uri, body) = if call.method == Method::GET || call.method == Method::HEAD {
            (template.uri(&call.endpoint, &encoded)?, Bytes::new())
        } else {
            (template.uri(&call.endpoint, "")?, Bytes::from(encoded))
        };
        let mut key = token.as_ref().map_or(RateLimitKey::ANONYMOUS, |t| t.key);
        // OAuth endpoints are not paced (as in Mastodon.py): `NoRateLimit` turns their 429
        // into an error at once, through the same path as the configured limiter.
        let limiter: &dyn RateLimiter = match call.pacing {
            Pacing::Paced => self.inner.limiter.as_ref(),
            Pacing::Unpaced => &NoRateLimit,
        };
        limiter.before_request(key).await?;
        let mut resent = false;
        loop {
            let request = template.request(
                call.method.clone(),
                uri.clone(),
                body.clone(),
                token.as_deref().map(|t| &t.bearer),
            );
            if let Some((url, params)) = &logged {
                tracing::debug!(
                    target: "mastodon_auth::request",
                    method = %call.method,
                    url = %url,
                    params = %params,
                    "sending request"
                );
            }
            let response = self.inner.transport.send(request).await?;
            let (parts, resp_body) = response.into_parts();
            if logged.is_some() {
                tracing::debug!(
                    target: "mastodon_auth::request",
                    status = parts.status.as_u16(),
                    endpoint = %endpoint_label(&call.method, &uri),
                    bytes = resp_body.len(),
                    ratelimit_remaining = ?parts.headers.get("x-ratelimit-remaining"),
                    "received response"
                );
            }
            let info = RateLimitInfo::from_headers(&parts.headers);
            // On `Retry` the limiter has already waited (and charged its budget): resend.
            if limiter.after_response(key, parts.status, info).await? == Verdict::Retry {
                continue;
            }
            // Refused because another process (or task) refreshed while this request was on
            // its way, revoking the token it carried: once, with the token that replaced it.
            if !resent
                && matches!(
                    parts.status,
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                )
                && let Some(sent) = &token
                && let Some(newer) = self.replacement_for(sent).await
            {
                resent = true;
                key = newer.key;
                token = Some(newer);
                limiter.before_request(key).await?;
                continue;
            }
            return Reply::from_answer(call, uri, &parts, resp_body);
        }
    }

    /// The token to send, refreshed first (once, however many tasks and processes ask) when
    /// it is about to expire and a refresh token is at hand.
    async fn bearer_token(&self) -> Result<Option<Arc<Token>>, Error> {
        let Some(token) = self.state().token.clone() else {
            return Ok(None);
        };
        let expiring = token
            .expires_at
            .is_some_and(|at| at <= SystemTime::now() + REFRESH_MARGIN);
        if !expiring || token.refresh.is_none() {
            return Ok(Some(token));
        }
        self.refreshed(token).await.map(Some)
    }

    /// The token to send instead of `expiring`, the one a request was about to send: the
    /// refreshed token, or the one another task or process refreshed meanwhile.
    ///
    /// With a store and a known account, the refresh happens under the store's lease and its
    /// result is stored before the lease is released. When the store fails after the server
    /// issued the new token, the client keeps that token (the old refresh token is spent) and
    /// the error is returned; [`save_credentials`](Self::save_credentials) stores it later.
    async fn refreshed(&self, expiring: Arc<Token>) -> Result<Arc<Token>, Error> {
        let _guard = self.inner.refresh.lock().await;
        // Another task may have refreshed while this one waited.
        if let Some(current) = self.state().token.clone()
            && current.access != expiring.access
        {
            return Ok(current);
        }
        match (self.inner.store.clone(), self.account()) {
            (Some(store), Some(account)) => {
                let lease = store.lease_user(&account).await?;
                let stored = lease.current().cloned();
                // On an error the lease drops unsaved: nothing is stored.
                if let Some(user) = self.refresh_leased(stored).await? {
                    lease.save(&user).await?;
                }
            }
            _ => {
                if let Some(refresh) = expiring.refresh.clone() {
                    self.refresh_grant(refresh).await?;
                }
            }
        }
        self.state().token.clone().ok_or(Error::NotLoggedIn)
    }

    /// After the server refused `sent` (401, or the 403 Pleroma-family servers answer to a
    /// token they do not know): the token that replaced it, when another task of this client
    /// or another process sharing the store has refreshed since `sent` was read. A refresh
    /// rotates the pair and revokes the old token, so a request already on its way with it
    /// is refused. `None` when nothing newer is known (or the store cannot say): the refusal
    /// stands.
    async fn replacement_for(&self, sent: &Arc<Token>) -> Option<Arc<Token>> {
        let _guard = self.inner.refresh.lock().await;
        let current = self.state().token.clone()?;
        if current.access != sent.access {
            return Some(current);
        }
        let (Some(store), Some(account)) = (self.inner.store.clone(), self.account()) else {
            return None;
        };
        // Read under the account's lease (taken, looked at, dropped): the process whose
        // refresh revoked `sent` holds it from before it asked the server until the new token
        // is stored, so a plain load could still see `sent` and let the refusal stand.
        let stored = match store.lease_user(&account).await {
            Ok(lease) => lease.current().cloned(),
            Err(e) => {
                tracing::debug!(target: "mastodon_auth", error = %e, "could not look for a newer token in the store");
                return None;
            }
        }?;
        if stored.access_token == sent.access {
            return None;
        }
        self.adopt_stored(stored).ok()?;
        self.state().token.clone()
    }

    /// Runs under the account's lease, given what the store holds now: takes the stored
    /// token when another process has replaced the one this client holds, otherwise
    /// refreshes and returns the credentials to store (`None`: store nothing).
    async fn refresh_leased(
        &self,
        stored: Option<UserCredentials>,
    ) -> Result<Option<UserCredentials>, Error> {
        let held = self.state().token.clone();
        if let Some(stored) = stored
            && held.is_none_or(|t| t.access != stored.access_token)
        {
            // Another process refreshed (or logged in again) since this one loaded the
            // account: the stored credentials are the newest, and this client's refresh token
            // may be spent already.
            let usable = stored.expires_at.is_none_or(|at| at > SystemTime::now());
            self.adopt_stored(stored)?;
            if usable {
                return Ok(None);
            }
            // Expired in the store too: refresh with the stored refresh token.
        }
        let Some(refresh) = self.state().token.as_ref().and_then(|t| t.refresh.clone()) else {
            // Nothing to refresh with: the request goes out with what there is.
            return Ok(None);
        };
        self.refresh_grant(refresh).await?;
        self.persistable_login_credentials().map(Some)
    }

    /// Trades `refresh` for a new token, which becomes the client's. The token request is
    /// anonymous (see the module's documentation).
    async fn refresh_grant(&self, refresh: RefreshToken) -> Result<(), Error> {
        let scopes = self
            .state()
            .token
            .as_ref()
            .and_then(|t| t.scopes.clone())
            .unwrap_or_default();
        self.obtain_token(LoginGrant::RefreshToken {
            token: refresh,
            scopes,
        })
        .await?;
        Ok(())
    }

    /// Makes the stored credentials of this client's account its own: the token, and the
    /// app's id and secret when the store has them (a refresh token is bound to its app).
    fn adopt_stored(&self, user: UserCredentials) -> Result<(), Error> {
        let token = Token::new(
            user.access_token,
            user.refresh_token,
            user.expires_at,
            user.scopes,
        )
        .ok_or_else(unusable_token)?;
        let mut state = self.state();
        state.token = Some(token);
        if let Some(client) = user.client {
            state.client = Some(client);
        }
        Ok(())
    }
}
