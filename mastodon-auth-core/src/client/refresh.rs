//! Refreshing an expiring token once, however many tasks ask and, through the store's lease
//! ([`update_user`](crate::CredentialStore::update_user)), however many processes share the
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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use super::builder::unusable_token;
use super::{LoginGrant, Mastodon, Token};
use crate::error::Error;
use crate::secret::RefreshToken;
use crate::store::{UserCredentials, UserUpdate};

impl Mastodon {
    /// The token to send instead of `expiring`, the one a request was about to send: the
    /// refreshed token, or the one another task or process refreshed meanwhile.
    ///
    /// With a store and a known account, the refresh goes through the store's lease and its
    /// result is stored before the lease is released. When the store fails after the server
    /// issued the new token, the client keeps that token (the old refresh token is spent) and
    /// the error is returned; [`save_credentials`](Self::save_credentials) stores it later.
    pub(super) async fn refreshed(&self, expiring: Arc<Token>) -> Result<Arc<Token>, Error> {
        let _guard = self.inner.refresh.lock().await;
        // Another task may have refreshed while this one waited.
        if let Some(current) = self.state().token.clone()
            && current.access != expiring.access
        {
            return Ok(current);
        }
        match (self.inner.store.clone(), self.account()) {
            (Some(store), Some(account)) => {
                store.update_user(&account, self.leased_refresh()).await?;
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
    pub(super) async fn replacement_for(&self, sent: &Arc<Token>) -> Option<Arc<Token>> {
        let _guard = self.inner.refresh.lock().await;
        let current = self.state().token.clone()?;
        if current.access != sent.access {
            return Some(current);
        }
        let (Some(store), Some(account)) = (self.inner.store.clone(), self.account()) else {
            return None;
        };
        // Read under the account's lease: the process whose refresh revoked `sent` holds it
        // from before it asked the server until the new token is stored, so a plain load
        // could still see `sent` and let the refusal stand.
        let mut seen = None;
        let read: UserUpdate<'_> = Box::new(|stored| {
            seen = stored;
            Box::pin(async { Ok(None) })
        });
        if let Err(e) = store.update_user(&account, read).await {
            tracing::debug!(target: "mastodon_auth", error = %e, "could not look for a newer token in the store");
            return None;
        }
        let stored = seen?;
        if stored.access_token == sent.access {
            return None;
        }
        self.adopt_stored(stored).ok()?;
        self.state().token.clone()
    }

    /// [`refresh_leased`](Self::refresh_leased) as the store's update.
    fn leased_refresh(&self) -> UserUpdate<'static> {
        let client = self.clone();
        Box::new(move |stored| Box::pin(async move { client.refresh_leased(stored).await }))
    }

    /// Runs under the account's lease, given what the store holds now: takes the stored
    /// token when another process has replaced the one this client holds, otherwise
    /// refreshes and returns the credentials to store.
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

    /// Trades `refresh` for a new token, which becomes the client's.
    ///
    /// The token request goes through `call`, which comes back to [`refreshed`](Self::refreshed)
    /// when a token expires: a cycle of futures, broken here by a boxed `dyn` future (an
    /// `async fn` could not name its own type, nor the compiler prove it `Send`).
    fn refresh_grant(
        &self,
        refresh: RefreshToken,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + '_>> {
        let scopes = self
            .state()
            .token
            .as_ref()
            .and_then(|t| t.scopes.clone())
            .unwrap_or_default();
        Box::pin(async move {
            self.obtain_token(LoginGrant::RefreshToken {
                token: refresh,
                scopes,
            })
            .await?;
            Ok(())
        })
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
