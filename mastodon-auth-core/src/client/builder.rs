//! Building a client, with every constructor option of Mastodon.py.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Config, Inner, Mastodon, State, Token, VersionState};
use crate::error::Error;
use crate::instance_url::InstanceUrl;
use crate::ratelimit::{NoRateLimit, RateLimiter};
use crate::secret::{AccessToken, ClientSecret};
use crate::store::{AccountKey, CredentialStore};
use crate::transport::HttpTransport;
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
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "none" => Ok(Self::None),
            "created" => Ok(Self::Created),
            "changed" => Ok(Self::Changed),
            _ => Err(Error::InvalidArgument(format!(
                "Invalid version check method {s:?}: use created, changed or none."
            ))),
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
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "mainline" => Ok(Self::Mainline),
            "fedibird" => Ok(Self::Fedibird),
            "pleroma" => Ok(Self::Pleroma),
            _ => Err(Error::InvalidArgument(format!(
                "Requested invalid feature set {s:?}: use mainline, fedibird or pleroma."
            ))),
        }
    }
}

/// Configures a [`Mastodon`] client. Every option of Mastodon.py's constructor has a method
/// here; credential files are a [`CredentialStore`] (see `mastodon-auth-store`).
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
///     .lang("de")
///     .transport(transport)
///     .build()
///     .await?;
/// assert_eq!(client.client_id().as_deref(), Some("CLIENT_ID"));
/// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
/// ```
#[must_use = "a builder does nothing until .build() is awaited"]
pub struct MastodonBuilder {
    base_url: String,
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
    access_token: Option<AccessToken>,
    account: Option<AccountKey>,
    load_user: bool,
    transport: Option<Arc<dyn HttpTransport>>,
    limiter: Option<Arc<dyn RateLimiter>>,
    store: Option<Arc<dyn CredentialStore>>,
    debug_requests: bool,
    request_timeout: Duration,
    mastodon_version: Option<String>,
    version_check_mode: VersionCheckMode,
    feature_set: FeatureSet,
    user_agent: Option<String>,
    lang: Option<String>,
    allow_http: bool,
}

impl MastodonBuilder {
    /// Mastodon.py's default request timeout: 300 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

    pub(super) fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            client_id: None,
            client_secret: None,
            access_token: None,
            account: None,
            load_user: true,
            transport: None,
            limiter: None,
            store: None,
            debug_requests: false,
            request_timeout: Self::DEFAULT_TIMEOUT,
            mastodon_version: None,
            version_check_mode: VersionCheckMode::None,
            feature_set: FeatureSet::Mainline,
            user_agent: Some(concat!("mastodon-auth/", env!("CARGO_PKG_VERSION")).to_owned()),
            lang: None,
            allow_http: false,
        }
    }

    /// The app's client id and secret.
    pub fn client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret.into());
        self
    }

    /// The app's client id alone (a secret must follow, from [`client_secret`](Self::client_secret)
    /// or the store).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The app's client secret.
    pub fn client_secret(mut self, client_secret: impl Into<ClientSecret>) -> Self {
        self.client_secret = Some(client_secret.into());
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

    /// The HTTP transport (required): `mastodon_auth_http::HyperTransport`, a mock, or a closure.
    pub fn transport(self, transport: impl HttpTransport + 'static) -> Self {
        self.shared_transport(Arc::new(transport))
    }

    /// A transport shared with other clients.
    pub fn shared_transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = Some(transport);
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

    /// The timeout of each request (default 300 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
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

    /// The language for server messages, sent as `lang`.
    pub fn lang(mut self, lang: impl Into<String>) -> Self {
        self.lang = Some(lang.into());
        self
    }

    /// Accept `http://` OAuth endpoints from the server's metadata (for development servers).
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Validates the configuration (in Mastodon.py's order), loads credentials from the store,
    /// and, with [`VersionCheckMode::Created`] or `Changed` and no version given, asks the
    /// server for its version.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad base URL, a client id without a secret, a bad
    /// user agent or a missing transport; [`Error::Version`] for a bad `mastodon_version`;
    /// store errors; a base-URL mismatch between the store and the builder.
    pub async fn build(self) -> Result<Mastodon, Error> {
        let base = InstanceUrl::parse(&self.base_url)?;
        let mut client_id = self.client_id;
        let mut client_secret = self.client_secret;
        let unusable = || {
            Error::InvalidArgument(
                "the access token contains characters that cannot be sent in a header".into(),
            )
        };
        let mut token = match self.access_token {
            Some(access) => Some(Token::new(access, None, None, None).ok_or_else(unusable)?),
            None => None,
        };
        let mut account = None;
        if let Some(store) = &self.store {
            if (client_id.is_none() || client_secret.is_none())
                && let Some(app) = store.load_app(&base).await?
            {
                check_same_instance(&base, &app.instance)?;
                if client_id.is_none() || client_id.as_deref() == Some(app.client_id.as_str()) {
                    client_id = Some(app.client_id);
                    client_secret = client_secret.or(Some(app.client_secret));
                }
            }
            if token.is_none() && self.load_user {
                let user = match &self.account {
                    Some(key) => store.load_user(key).await?,
                    None => store.load_active_user().await?,
                };
                if let Some(user) = user {
                    check_same_instance(&base, &user.instance)?;
                    if client_id.is_none() {
                        client_id = user.client_id.clone();
                        client_secret = user.client_secret.clone();
                    }
                    account = user.account.clone();
                    token = Some(
                        Token::new(
                            user.access_token,
                            user.refresh_token,
                            user.expires_at,
                            user.scopes,
                        )
                        .ok_or_else(unusable)?,
                    );
                } else if let Some(key) = &self.account {
                    return Err(crate::StoreError::UnknownAccount(key.to_string()).into());
                }
            }
        }
        if client_id.is_some() && client_secret.is_none() {
            return Err(Error::InvalidArgument(
                "Specified client id directly, but did not supply secret".into(),
            ));
        }
        let user_agent = self
            .user_agent
            .map(|ua| {
                http::HeaderValue::from_str(&ua).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "invalid user agent {ua:?}: it must be visible ASCII"
                    ))
                })
            })
            .transpose()?;
        let transport = self.transport.ok_or_else(|| {
            Error::InvalidArgument(
                "no HTTP transport configured: pass one to .transport(), e.g. mastodon_auth_http::HyperTransport".into(),
            )
        })?;
        let mut version = VersionState::default();
        if let Some(v) = &self.mastodon_version {
            let parsed = MastodonVersion::parse(v)
                .map_err(|_| Error::Version(format!("Bad version specified: {v:?}")))?;
            version = VersionState {
                version: Some(parsed),
                api_version: None,
                worked: Some(true),
            };
        }
        let client = Mastodon {
            inner: Arc::new(Inner {
                base,
                transport,
                limiter: self.limiter.unwrap_or_else(|| Arc::new(NoRateLimit)),
                store: self.store,
                config: Config {
                    request_timeout: self.request_timeout,
                    user_agent,
                    debug_requests: self.debug_requests,
                    version_check_mode: self.version_check_mode,
                    feature_set: self.feature_set,
                    allow_http: self.allow_http,
                },
                state: Mutex::new(State {
                    client_id,
                    client_secret,
                    token,
                    lang: self.lang,
                    account,
                    metadata: None,
                    version,
                }),
                refresh: tokio::sync::Mutex::new(()),
            }),
        };
        if self.mastodon_version.is_none() && self.version_check_mode != VersionCheckMode::None {
            client.retrieve_mastodon_version().await?;
        }
        Ok(client)
    }
}

fn check_same_instance(configured: &InstanceUrl, stored: &InstanceUrl) -> Result<(), Error> {
    if configured == stored {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "Mismatch in base URLs between files and/or specified: the store has {stored}, the client is for {configured}"
        )))
    }
}
