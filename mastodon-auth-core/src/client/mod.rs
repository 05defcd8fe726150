//! The client: configuration, state, and every flow of Mastodon.py's "Authentication & Setup".
//!
//! Where each part of `impl Mastodon` is:
//!
//! - `mod.rs`: the client's state and its accessors, `persistable_login_credentials`,
//!   `save_credentials`;
//! - `builder.rs`: `Mastodon::builder` and `build` (settings, credentials from the store);
//! - `call.rs`: `call` and `call_anonymous`, and `send`, the loop every request goes
//!   through; the token refresh it starts (`bearer_token`, `refreshed`, `replacement_for`);
//! - `request.rs`: `Call` (a request described before it is sent), `Reply`, error mapping;
//! - `template.rs`: what every request shares (URLs, headers, the timeout);
//! - `app.rs`: `create_app`;
//! - `authorize.rs`: `oauth_authorization_server_info`, `auth_request_url`, the callback;
//! - `login.rs`: `log_in` (and `obtain_token`, which the refresh uses too),
//!   `revoke_access_token`;
//! - `verify.rs`: `app_verify_credentials`, `account_verify_credentials`, `oauth_userinfo`,
//!   the version checks.

mod app;
mod authorize;
mod builder;
mod call;
mod login;
mod request;
mod template;
mod verify;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

pub use app::CreateApp;
pub use authorize::{
    AuthRequestBuilder, AuthorizationRequest, AuthorizedCode, PendingAuthorization,
    PendingAuthorizationParts, Pkce,
};
pub use builder::{FeatureSet, MastodonBuilder, NoTransport, VersionCheckMode, WithTransport};
pub use login::LoginGrant;

use crate::account_key::AccountKey;
use crate::client_credentials::ClientCredentials;
use crate::error::Error;
use crate::instance_url::InstanceUrl;
use crate::metadata::OAuthServerInfo;
use crate::ratelimit::RateLimiter;
use crate::scope::Scopes;
use crate::secret::{AccessToken, RefreshToken};
use crate::store::{AppCredentials, CredentialStore, UserCredentials};
use crate::transport::{HttpTransport, RequestTimeout};
use crate::version::MastodonVersion;

/// A Mastodon API client's authentication layer.
///
/// Cheap to clone; clones share credentials, caches and the rate limiter, so one client can
/// serve many tasks. Built with [`Mastodon::builder`].
///
/// `Debug` shows no secret:
///
/// ```
/// # use mastodon_auth_core::{Mastodon, TransportError};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// # let transport = |_r: http::Request<bytes::Bytes>| async {
/// #     Err::<http::Response<bytes::Bytes>, _>(TransportError::Other("offline".into())) };
/// let client = Mastodon::builder("social.example")
///     .client("id", "the-client-secret")
///     .access_token("the-token")
///     .transport(transport)
///     .build()
///     .await?;
/// let debug = format!("{client:?}");
/// assert!(!debug.contains("the-client-secret") && !debug.contains("the-token"));
/// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Mastodon {
    inner: Arc<Inner>,
}

struct Inner {
    base: InstanceUrl,
    /// What every request shares, prepared from `base` and `config`.
    template: template::Template,
    transport: Arc<dyn HttpTransport>,
    limiter: Arc<dyn RateLimiter>,
    store: Option<Arc<dyn CredentialStore>>,
    config: Config,
    state: Mutex<State>,
    /// Serialises token refreshes so that concurrent requests refresh once (the store's lease
    /// does the same between processes; see `call.rs`).
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone)]
struct Config {
    request_timeout: RequestTimeout,
    user_agent: Option<http::HeaderValue>,
    debug_requests: bool,
    version_check_mode: VersionCheckMode,
    feature_set: FeatureSet,
    allow_http: bool,
}

#[derive(Default)]
struct State {
    client: Option<ClientCredentials>,
    token: Option<Arc<Token>>,
    language: Option<String>,
    account: Option<AccountKey>,
    metadata: MetadataCache,
    version: VersionState,
}

/// What the client knows of the server's OAuth metadata.
#[derive(Clone, Default)]
enum MetadataCache {
    /// Not asked yet (or forgotten by `clear_caches`).
    #[default]
    Unknown,
    /// Asked: the server has none (older Mastodon, Akkoma's HTML page).
    Absent,
    /// Asked: the server's document.
    Known(Arc<OAuthServerInfo>),
}

/// The token in use, with what every request derives from it computed once.
struct Token {
    access: AccessToken,
    refresh: Option<RefreshToken>,
    expires_at: Option<SystemTime>,
    scopes: Option<Scopes>,
    /// `Authorization: Bearer …`, marked sensitive.
    bearer: http::HeaderValue,
    /// The rate-limit budget of this token.
    key: crate::ratelimit::RateLimitKey,
}

impl Token {
    /// `None` when the token has characters that cannot go in a header.
    fn new(
        access: AccessToken,
        refresh: Option<RefreshToken>,
        expires_at: Option<SystemTime>,
        scopes: Option<Scopes>,
    ) -> Option<Arc<Self>> {
        let mut bearer =
            http::HeaderValue::from_str(&format!("Bearer {}", access.expose())).ok()?;
        bearer.set_sensitive(true);
        let key = crate::ratelimit::RateLimitKey::for_token(&access);
        Some(Arc::new(Self {
            access,
            refresh,
            expires_at,
            scopes,
            bearer,
            key,
        }))
    }
}

#[derive(Clone, Default)]
struct VersionState {
    version: Option<MastodonVersion>,
    api_version: Option<u64>,
    source: VersionSource,
}

/// Where the client's idea of the instance version comes from. A failed attempt is never
/// retried in a loop: the next call that needs the version asks again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum VersionSource {
    /// Nothing asked yet, or the caches were cleared (a version from before may still be
    /// used by the per-endpoint check until the server is asked again).
    #[default]
    NotAsked,
    /// The server (or the caller) said.
    Confirmed,
    /// The server would not say: 1.0.0 is assumed, as in Mastodon.py.
    Fallback,
}

impl Mastodon {
    /// A builder for a client of the instance at `base_url` (normalised like Mastodon.py:
    /// `social.example` means `https://social.example`).
    pub fn builder(base_url: impl AsRef<str>) -> MastodonBuilder<NoTransport> {
        MastodonBuilder::new(base_url.as_ref())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock can only come from a bug in this crate; the state
        // is still consistent (every update is a single assignment), so keep using it.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The instance's base URL.
    #[must_use]
    pub fn base_url(&self) -> &InstanceUrl {
        &self.inner.base
    }

    /// The app's client id and secret, if known.
    #[must_use]
    pub fn client_credentials(&self) -> Option<ClientCredentials> {
        self.state().client.clone()
    }

    /// The current access token, if logged in.
    #[must_use]
    pub fn access_token(&self) -> Option<AccessToken> {
        self.state().token.as_ref().map(|t| t.access.clone())
    }

    /// The refresh token, from servers that issue them.
    #[must_use]
    pub fn refresh_token(&self) -> Option<RefreshToken> {
        self.state().token.as_ref().and_then(|t| t.refresh.clone())
    }

    /// When the access token expires, for servers that say.
    #[must_use]
    pub fn token_expires_at(&self) -> Option<SystemTime> {
        self.state().token.as_ref().and_then(|t| t.expires_at)
    }

    /// The scopes granted with the current token, when known.
    #[must_use]
    pub fn granted_scopes(&self) -> Option<Scopes> {
        self.state().token.as_ref().and_then(|t| t.scopes.clone())
    }

    /// The logged-in account, once `account_verify_credentials` (or the store) told it.
    #[must_use]
    pub fn account(&self) -> Option<AccountKey> {
        self.state().account.clone()
    }

    /// The feature set the client was configured for.
    #[must_use]
    pub fn feature_set(&self) -> FeatureSet {
        self.inner.config.feature_set
    }

    /// The language sent with requests (`lang`), if any.
    #[must_use]
    pub fn language(&self) -> Option<String> {
        self.state().language.clone()
    }

    /// Sets (or with `None` clears) the language the server should answer in: it is sent as
    /// `lang` with every request, so error messages come back translated.
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon, TransportError};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let t = |_r: http::Request<bytes::Bytes>| async { Err::<http::Response<bytes::Bytes>, _>(TransportError::Other("x".into())) };
    /// let client = Mastodon::builder("social.example").transport(t).build().await?;
    /// client.set_language(Some("de"));
    /// assert_eq!(client.language().as_deref(), Some("de"));
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    pub fn set_language(&self, language: Option<&str>) {
        self.state().language = language.map(str::to_owned);
    }

    /// Forgets the cached OAuth metadata and instance version, so the next call asks again.
    /// Credentials and rate-limit state are kept.
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    /// # "/.well-known/oauth-authorization-server" => (200, &br#"{"issuer":"https://social.example/"}"#[..]),
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example").transport(transport).build().await?;
    /// client.oauth_authorization_server_info().await?; // asks the server
    /// client.oauth_authorization_server_info().await?; // cached
    /// client.clear_caches();
    /// client.oauth_authorization_server_info().await?; // asks again
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    pub fn clear_caches(&self) {
        let mut state = self.state();
        state.metadata = MetadataCache::Unknown;
        state.version.source = VersionSource::NotAsked;
    }

    /// The credentials to keep so that a later client can log in without asking the user:
    /// token, base URL, client id and secret (Mastodon.py's `persistable_login_credentials`).
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    ///
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example/").client("CID", "CSEC").access_token("TOKEN").transport(transport).build().await?;
    /// let creds = client.persistable_login_credentials()?;
    /// assert_eq!(creds.instance.as_str(), "https://social.example");
    /// assert_eq!(creds.access_token.expose(), "TOKEN");
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`] without a token; [`Error::MissingClientCredentials`] when the
    /// app's id and secret are not known.
    pub fn persistable_login_credentials(&self) -> Result<UserCredentials, Error> {
        let state = self.state();
        let token = state.token.as_ref().ok_or(Error::NotLoggedIn)?;
        let client = state
            .client
            .clone()
            .ok_or(Error::MissingClientCredentials {
                needed_for: "keeping the login",
            })?;
        let mut creds =
            UserCredentials::new(self.inner.base.clone(), token.access.clone()).with_client(client);
        creds.account.clone_from(&state.account);
        creds.refresh_token.clone_from(&token.refresh);
        creds.expires_at = token.expires_at;
        creds.scopes.clone_from(&token.scopes);
        Ok(creds)
    }

    /// The app's credentials, when known.
    #[must_use]
    pub fn app_credentials(&self) -> Option<AppCredentials> {
        let client = self.state().client.clone()?;
        Some(AppCredentials::new(self.inner.base.clone(), client))
    }

    /// Saves the app and the logged-in user to the configured store, learning the account
    /// name first (one `verify_credentials` call) when it is not known yet. The saved user
    /// becomes the store's active account.
    ///
    /// # Errors
    /// [`Error::NoStore`] without a store; [`Error::NotLoggedIn`] or
    /// [`Error::MissingClientCredentials`] without credentials to save; the store's and the
    /// server's errors.
    pub async fn save_credentials(&self) -> Result<UserCredentials, Error> {
        let store = self.store()?;
        self.persistable_login_credentials()?;
        if self.account().is_none() {
            // This request may refresh the token, so the credentials are read after it.
            self.account_verify_credentials().await?;
        }
        let user = self.persistable_login_credentials()?;
        // Keep what the store knows of the app (name, scopes) unless it is another app.
        if let Some(app) = self.app_credentials() {
            let known = store.load_app(&app.instance).await?;
            if known.is_none_or(|k| k.client.id != app.client.id) {
                match store.save_app(&app).await {
                    // A store without a place for apps (a Mastodon.py token file alone) keeps
                    // the client id and secret with the user.
                    Ok(()) | Err(crate::StoreError::Unsupported { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        store.save_user(&user).await?;
        Ok(user)
    }

    fn store(&self) -> Result<&Arc<dyn CredentialStore>, Error> {
        self.inner.store.as_ref().ok_or(Error::NoStore)
    }
}

impl fmt::Debug for Mastodon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Mastodon")
            .field("base_url", &self.inner.base.as_str())
            .field("client", &state.client)
            .field("access_token", &state.token.as_ref().map(|t| &t.access))
            .field("account", &state.account)
            .field("language", &state.language)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
