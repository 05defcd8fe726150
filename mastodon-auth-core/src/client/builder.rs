//! Building a client, with every constructor option of Mastodon.py.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::template::Template;
use super::{Config, Inner, Mastodon, MetadataCache, State, Token, VersionSource, VersionState};
use crate::account_key::AccountKey;
use crate::client_credentials::{ClientCredentials, ClientId};
use crate::error::{ConfigError, Error, ParseOptionError, StoreError};
use crate::instance_url::InstanceUrl;
use crate::ratelimit::{NoRateLimit, RateLimiter};
use crate::redact;
use crate::secret::{AccessToken, ClientSecret};
use crate::store::CredentialStore;
use crate::transport::{HttpTransport, RequestTimeout};
use crate::version::MastodonVersion;

/// When the client checks the instance's version (Mastodon.py's `version_check_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VersionCheckMode {
    /// Never ask the server; calls are never refused for their version.
    #[default]
    None,
    /// Ask once at build time; refuse calls to endpoints newer than the server.
    Created,
    /// Like `Created`, and also refuse endpoints whose answer changed after the server's version.
    Changed,
}

impl FromStr for VersionCheckMode {
    type Err = ParseOptionError;
    /// Mastodon.py's names: `none`, `created`, `changed`.
    fn from_str(s: &str) -> Result<Self, ParseOptionError> {
        match s {
            "none" => Ok(Self::None),
            "created" => Ok(Self::Created),
            "changed" => Ok(Self::Changed),
            _ => Err(ParseOptionError::new(
                "version check mode",
                s,
                &["created", "changed", "none"],
            )),
        }
    }
}

/// Which server family's API extensions the client may use (Mastodon.py's `feature_set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FeatureSet {
    /// Mainline Mastodon.
    #[default]
    Mainline,
    /// Fedibird.
    Fedibird,
    /// Pleroma and Akkoma.
    Pleroma,
}

impl FromStr for FeatureSet {
    type Err = ParseOptionError;
    /// Mastodon.py's names: `mainline`, `fedibird`, `pleroma`.
    fn from_str(s: &str) -> Result<Self, ParseOptionError> {
        match s {
            "mainline" => Ok(Self::Mainline),
            "fedibird" => Ok(Self::Fedibird),
            "pleroma" => Ok(Self::Pleroma),
            _ => Err(ParseOptionError::new(
                "feature set",
                s,
                &["mainline", "fedibird", "pleroma"],
            )),
        }
    }
}

/// The state of a [`MastodonBuilder`] before a transport is given: it has no `build`.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct NoTransport;

/// The state of a [`MastodonBuilder`] with its transport: it can `build`.
#[derive(Clone)]
pub struct WithTransport(Arc<dyn HttpTransport>);

impl fmt::Debug for WithTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WithTransport(..)")
    }
}

/// Configures a [`Mastodon`] client. Every option of Mastodon.py's constructor has a method
/// here; credential files are a [`CredentialStore`] (see `mastodon-auth-store`).
///
/// The transport is required, and the type says whether it was given: only a builder that
/// has had [`transport`](Self::transport) called is a `MastodonBuilder<WithTransport>` (the
/// default type parameter, so that is what `MastodonBuilder` names) and has `build`.
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_core::{FeatureSet, Mastodon, VersionCheckMode, TransportError};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// # let transport = |_r: http::Request<bytes::Bytes>| async { Err::<http::Response<bytes::Bytes>, _>(TransportError::Other("x".into())) };
/// let client = Mastodon::builder("https://social.example")
///     .client("CLIENT_ID", "CLIENT_SECRET")
///     .access_token("TOKEN")
///     .request_timeout(Duration::from_secs(30))
///     .version_check_mode(VersionCheckMode::None)
///     .feature_set(FeatureSet::Mainline)
///     .user_agent("my-bot/1.0")
///     .language("de")
///     .transport(transport)
///     .build()
///     .await?;
/// assert_eq!(client.client_credentials().map(|c| c.id), Some("CLIENT_ID".into()));
/// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
/// ```
///
/// Without a transport there is nothing to build:
///
/// ```compile_fail
/// # async fn f() {
/// let client = mastodon_auth_core::Mastodon::builder("social.example").build().await;
/// # }
/// ```
#[must_use = "a builder does nothing until .build() is awaited"]
pub struct MastodonBuilder<T = WithTransport> {
    base_url: String,
    transport: T,
    client: Option<ClientCredentials>,
    access_token: Option<AccessToken>,
    account: Option<AccountKey>,
    load_user: bool,
    limiter: Option<Arc<dyn RateLimiter>>,
    store: Option<Arc<dyn CredentialStore>>,
    debug_requests: bool,
    request_timeout: RequestTimeout,
    mastodon_version: Option<String>,
    version_check_mode: VersionCheckMode,
    feature_set: FeatureSet,
    user_agent: Option<String>,
    language: Option<String>,
    allow_http: bool,
}

impl MastodonBuilder<NoTransport> {
    pub(super) fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            transport: NoTransport,
            client: None,
            access_token: None,
            account: None,
            load_user: true,
            limiter: None,
            store: None,
            debug_requests: false,
            request_timeout: RequestTimeout::DEFAULT,
            mastodon_version: None,
            version_check_mode: VersionCheckMode::None,
            feature_set: FeatureSet::Mainline,
            user_agent: Some(crate::DEFAULT_USER_AGENT.to_owned()),
            language: None,
            allow_http: false,
        }
    }
}

impl<T> MastodonBuilder<T> {
    /// The HTTP transport (required): `mastodon_auth_http::HyperTransport`, a mock, or a closure.
    pub fn transport(
        self,
        transport: impl HttpTransport + 'static,
    ) -> MastodonBuilder<WithTransport> {
        self.shared_transport(Arc::new(transport))
    }

    /// A transport shared with other clients.
    pub fn shared_transport(
        self,
        transport: Arc<dyn HttpTransport>,
    ) -> MastodonBuilder<WithTransport> {
        MastodonBuilder {
            base_url: self.base_url,
            transport: WithTransport(transport),
            client: self.client,
            access_token: self.access_token,
            account: self.account,
            load_user: self.load_user,
            limiter: self.limiter,
            store: self.store,
            debug_requests: self.debug_requests,
            request_timeout: self.request_timeout,
            mastodon_version: self.mastodon_version,
            version_check_mode: self.version_check_mode,
            feature_set: self.feature_set,
            user_agent: self.user_agent,
            language: self.language,
            allow_http: self.allow_http,
        }
    }

    /// The app's client id and secret: short for
    /// [`client_credentials`](Self::client_credentials)`(ClientCredentials::new(id, secret))`.
    /// Without them the client takes the store's app, if any.
    pub fn client(
        self,
        client_id: impl Into<ClientId>,
        client_secret: impl Into<ClientSecret>,
    ) -> Self {
        self.client_credentials(ClientCredentials::new(client_id, client_secret))
    }

    /// The app's client credentials.
    pub fn client_credentials(mut self, client: ClientCredentials) -> Self {
        self.client = Some(client);
        self
    }

    /// A user's access token.
    pub fn access_token(mut self, token: impl Into<AccessToken>) -> Self {
        self.access_token = Some(token.into());
        self
    }

    /// Which of the store's accounts to load (default: the store's active account).
    pub fn account(mut self, account: AccountKey) -> Self {
        self.account = Some(account);
        self
    }

    /// Load only the app from the store, not a user: for logging in another account.
    pub fn skip_stored_user(mut self) -> Self {
        self.load_user = false;
        self
    }

    /// The rate limiter (default [`NoRateLimit`]: a 429 is an error). Use
    /// `mastodon_auth_ratelimit::Pacer` for Mastodon.py's `wait` / `throw` / `pace`.
    pub fn rate_limiter(self, limiter: impl RateLimiter + 'static) -> Self {
        self.shared_rate_limiter(Arc::new(limiter))
    }

    /// A rate limiter shared with other clients (one pacer for many accounts).
    pub fn shared_rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Where credentials are loaded from at build time and saved by
    /// [`Mastodon::save_credentials`] (Mastodon.py's credential files).
    pub fn store(self, store: impl CredentialStore + 'static) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// A store shared with other code.
    pub fn shared_store(mut self, store: Arc<dyn CredentialStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Emit a `tracing` debug event (target `mastodon_auth::request`) for every request and
    /// response, with every secret redacted.
    pub fn debug_requests(mut self, on: bool) -> Self {
        self.debug_requests = on;
        self
    }

    /// The time each request may take, sent to the transport as a [`RequestTimeout`] with
    /// every request (default [`RequestTimeout::DEFAULT`], 300 s as in Mastodon.py).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = RequestTimeout(timeout);
        self
    }

    /// The instance's version, when known; no request is made to learn it.
    pub fn mastodon_version(mut self, version: impl Into<String>) -> Self {
        self.mastodon_version = Some(version.into());
        self
    }

    /// When to check the instance's version (default [`VersionCheckMode::None`], as in
    /// Mastodon.py 2.x).
    pub fn version_check_mode(mut self, mode: VersionCheckMode) -> Self {
        self.version_check_mode = mode;
        self
    }

    /// The server family (default mainline).
    pub fn feature_set(mut self, set: FeatureSet) -> Self {
        self.feature_set = set;
        self
    }

    /// The `User-Agent` (default `mastodon-auth/<version>`).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// Send no `User-Agent` of the client's own (the transport's default applies).
    pub fn no_user_agent(mut self) -> Self {
        self.user_agent = None;
        self
    }

    /// The language the server should answer in, sent as `lang` with every request (change
    /// it later with [`Mastodon::set_language`]).
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Allow plain `http://` to hosts other than this machine (for a development server on
    /// another machine). Default `false`: only loopback hosts (`localhost`, `127.0.0.0/8`,
    /// `[::1]`) may use plain HTTP.
    ///
    /// The one plain-HTTP switch: the client applies it to the OAuth endpoints a server's
    /// metadata names, and marks every request it sends with [`AllowHttp`](crate::AllowHttp) so that the
    /// transport lets plain HTTP through; a transport refuses it for requests without the
    /// marker.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }
}

impl<T> fmt::Debug for MastodonBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MastodonBuilder")
            .field("base_url", &redact::url(&self.base_url))
            .field("transport", &std::any::type_name::<T>())
            .field("client", &self.client)
            .field("access_token", &self.access_token)
            .field("account", &self.account)
            .field("store", &self.store.is_some())
            .field("request_timeout", &self.request_timeout.0)
            .field("version_check_mode", &self.version_check_mode)
            .field("feature_set", &self.feature_set)
            .field("language", &self.language)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// What the client starts with: given to the builder, or loaded from the store.
#[derive(Default)]
struct StartingCredentials {
    client: Option<ClientCredentials>,
    token: Option<Arc<Token>>,
    account: Option<AccountKey>,
}

impl MastodonBuilder<WithTransport> {
    /// Validates the configuration (in Mastodon.py's order), loads credentials from the store,
    /// and, with [`VersionCheckMode::Created`] or `Changed` and no version given, asks the
    /// server for its version.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a bad base URL; [`Error::Config`] for a bad user agent or an
    /// access token that cannot be sent; [`Error::Version`]
    /// for a bad `mastodon_version`; store errors, including
    /// [`StoreError::BaseUrlMismatch`] when the store's credentials are for another instance.
    pub async fn build(mut self) -> Result<Mastodon, Error> {
        let base = InstanceUrl::parse(&self.base_url)?;
        let credentials = self.starting_credentials(&base).await?;
        let config = self.config()?;
        let version = self.given_version()?;
        let ask_version = version.is_none() && config.version_check_mode != VersionCheckMode::None;
        let client = Mastodon {
            inner: Arc::new(Inner {
                template: Template::new(
                    &base,
                    config.user_agent.clone(),
                    config.request_timeout,
                    config.allow_http,
                )?,
                base,
                transport: self.transport.0,
                limiter: self.limiter.unwrap_or_else(|| Arc::new(NoRateLimit)),
                store: self.store,
                config,
                state: Mutex::new(State {
                    client: credentials.client,
                    token: credentials.token,
                    language: self.language,
                    account: credentials.account,
                    metadata: MetadataCache::Unknown,
                    version: version.unwrap_or_default(),
                }),
                refresh: tokio::sync::Mutex::new(()),
            }),
        };
        if ask_version {
            client.retrieve_mastodon_version().await?;
        }
        Ok(client)
    }

    /// The credentials given, completed from the store.
    async fn starting_credentials(
        &mut self,
        base: &InstanceUrl,
    ) -> Result<StartingCredentials, Error> {
        let mut credentials = StartingCredentials {
            client: self.client.take(),
            token: self.access_token.take().map(usable_token).transpose()?,
            account: None,
        };
        if let Some(store) = &self.store {
            credentials.load_app(store.as_ref(), base).await?;
            if self.load_user {
                credentials
                    .load_user(store.as_ref(), base, self.account.as_ref())
                    .await?;
            }
        }
        Ok(credentials)
    }

    /// The fixed configuration, checked.
    fn config(&self) -> Result<Config, Error> {
        let user_agent = self
            .user_agent
            .as_ref()
            .map(|ua| {
                http::HeaderValue::from_str(ua).map_err(|_| ConfigError::UserAgent {
                    user_agent: ua.chars().take(128).collect(),
                })
            })
            .transpose()?;
        Ok(Config {
            request_timeout: self.request_timeout,
            user_agent,
            debug_requests: self.debug_requests,
            version_check_mode: self.version_check_mode,
            feature_set: self.feature_set,
            allow_http: self.allow_http,
        })
    }

    /// The version given with [`mastodon_version`](Self::mastodon_version), parsed.
    fn given_version(&self) -> Result<Option<VersionState>, Error> {
        let Some(given) = &self.mastodon_version else {
            return Ok(None);
        };
        Ok(Some(VersionState {
            version: Some(MastodonVersion::parse(given)?),
            api_version: None,
            source: VersionSource::Confirmed,
        }))
    }
}

impl StartingCredentials {
    /// Takes the app's id and secret from the store, unless they were given.
    async fn load_app(
        &mut self,
        store: &dyn CredentialStore,
        base: &InstanceUrl,
    ) -> Result<(), Error> {
        if self.client.is_some() {
            return Ok(());
        }
        let Some(app) = store.load_app(base).await? else {
            return Ok(());
        };
        check_same_instance(base, &app.instance)?;
        self.client = Some(app.client);
        Ok(())
    }

    /// Takes the user (`account`, or the store's active one) from the store, unless a token
    /// was given.
    async fn load_user(
        &mut self,
        store: &dyn CredentialStore,
        base: &InstanceUrl,
        account: Option<&AccountKey>,
    ) -> Result<(), Error> {
        if self.token.is_some() {
            return Ok(());
        }
        let user = match account {
            Some(key) => store.load_user(key).await?,
            None => store.load_active_user().await?,
        };
        let Some(user) = user else {
            return match account {
                Some(key) => Err(StoreError::UnknownAccount(key.clone()).into()),
                None => Ok(()),
            };
        };
        check_same_instance(base, &user.instance)?;
        if self.client.is_none() {
            self.client = user.client;
        }
        self.account = user.account;
        self.token = Some(
            Token::new(
                user.access_token,
                user.refresh_token,
                user.expires_at,
                user.scopes,
            )
            .ok_or_else(unusable_token)?,
        );
        Ok(())
    }
}

fn usable_token(access: AccessToken) -> Result<Arc<Token>, Error> {
    Token::new(access, None, None, None).ok_or_else(unusable_token)
}

pub(super) fn unusable_token() -> Error {
    ConfigError::AccessToken.into()
}

/// Mastodon.py's "Mismatch in base URLs between files and/or specified" check, for stores
/// that do not make it themselves.
fn check_same_instance(configured: &InstanceUrl, stored: &InstanceUrl) -> Result<(), Error> {
    if configured == stored {
        Ok(())
    } else {
        Err(StoreError::BaseUrlMismatch {
            path: None,
            found: stored.to_string(),
            expected: configured.to_string(),
        }
        .into())
    }
}
