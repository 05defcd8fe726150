//! The pluggable credential store, and the credentials it keeps.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::SystemTime;

use crate::error::{AccountKeyProblem, Error, StoreError};
use crate::instance_url::{InstanceUrl, ascii_host, split_port};
use crate::scope::Scopes;
use crate::secret::{AccessToken, ClientSecret, RefreshToken};
use crate::text::is_bidi_control;

/// A registered application: what `create_app` returns and what a store keeps per instance.
///
/// ```
/// use mastodon_auth_core::{AppCredentials, ClientSecret};
/// let app = AppCredentials::new("https://example.com".parse()?, "id", ClientSecret::new("secret"));
/// assert!(!format!("{app:?}").contains("secret\""));
/// # Ok::<(), mastodon_auth_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct AppCredentials {
    /// The instance the app is registered with.
    pub instance: InstanceUrl,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: ClientSecret,
    /// The application's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The scopes the app was registered with, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Scopes>,
    /// The redirect URIs the app was registered with, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
}

impl AppCredentials {
    /// Credentials with only the required parts.
    #[must_use]
    pub fn new(
        instance: InstanceUrl,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
    ) -> Self {
        Self {
            instance,
            client_id: client_id.into(),
            client_secret,
            name: None,
            scopes: None,
            redirect_uris: Vec::new(),
        }
    }

    /// Sets the application name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// A logged-in user's credentials: what `log_in` produces and what a store keeps per account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct UserCredentials {
    /// The instance.
    pub instance: InstanceUrl,
    /// `user@instance`, once known (a Mastodon.py token file does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountKey>,
    /// The bearer token.
    pub access_token: AccessToken,
    /// The refresh token, from servers that issue them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires, for servers that say (`expires_in`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "epoch_secs")]
    pub expires_at: Option<SystemTime>,
    /// The scopes granted, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Scopes>,
    /// The app's client id (needed to revoke or refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The app's client secret (needed to revoke or refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
}

impl UserCredentials {
    /// Credentials with only a token.
    #[must_use]
    pub fn new(instance: InstanceUrl, access_token: AccessToken) -> Self {
        Self {
            instance,
            account: None,
            access_token,
            refresh_token: None,
            expires_at: None,
            scopes: None,
            client_id: None,
            client_secret: None,
        }
    }

    /// Sets the account.
    #[must_use]
    pub fn with_account(mut self, account: AccountKey) -> Self {
        self.account = Some(account);
        self
    }

    /// Sets the app credentials.
    #[must_use]
    pub fn with_client(
        mut self,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret);
        self
    }
}

mod epoch_secs {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)]
    pub(super) fn serialize<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s))))
    }
}

/// An account, as `user@host`: the instance's host name, lower-cased, with its port when it
/// is not the default (`alice@localhost:3000`), so that two instances on one machine do not
/// share keys.
///
/// A key is shown to people (account lists, prompts), and part of it comes from the server
/// (the user name), so it refuses control characters and bidirectional-text controls: with
/// them a key could rewrite the terminal or display as another account.
///
/// ```
/// use mastodon_auth_core::{AccountKey, InstanceUrl};
/// let key: AccountKey = "Alice@Social.Example".parse()?;
/// assert_eq!(key.to_string(), "Alice@social.example");
/// assert_eq!(key.username(), "Alice");
/// assert!("alice".parse::<AccountKey>().is_err());
/// assert!("al\u{1b}[31mice@social.example".parse::<AccountKey>().is_err());
///
/// let local = InstanceUrl::parse("http://localhost:3000")?;
/// assert_eq!(AccountKey::new("alice", &local)?.to_string(), "alice@localhost:3000");
/// # Ok::<(), mastodon_auth_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountKey {
    key: String,
    at: usize,
}

impl AccountKey {
    /// The key of `username` on `instance` (with the instance's port when it is not the
    /// default).
    ///
    /// # Errors
    /// [`Error::InvalidAccountKey`] for an empty user name or one with `@`, `/`, white space,
    /// control characters or bidirectional-text controls.
    pub fn new(username: &str, instance: &InstanceUrl) -> Result<Self, Error> {
        Self::parse(&format!("{username}@{}", instance.authority()))
    }

    /// Parses `user@host[:port]` (a leading `@` is allowed, as in `@alice@example.com`).
    /// An international host name is kept in its ASCII (punycode) form, as
    /// [`InstanceUrl`] keeps it.
    ///
    /// # Errors
    /// [`Error::InvalidAccountKey`] when it is not of that form, has an invalid port, or
    /// contains control characters or bidirectional-text controls.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let s = s.strip_prefix('@').unwrap_or(s);
        let bad = |problem| Error::InvalidAccountKey {
            key: s.chars().take(128).collect(),
            problem,
        };
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(bad(AccountKeyProblem::ControlCharacter(c)));
        }
        if let Some(c) = s.chars().find(|c| is_bidi_control(*c)) {
            return Err(bad(AccountKeyProblem::BidiControl(c)));
        }
        let (user, host) = s
            .split_once('@')
            .ok_or_else(|| bad(AccountKeyProblem::Form))?;
        let ok = |p: &str| {
            !p.is_empty() && !p.contains('@') && !p.chars().any(|c| c.is_whitespace() || c == '/')
        };
        if !ok(user) || !ok(host) {
            return Err(bad(AccountKeyProblem::Form));
        }
        let (name, port) = split_port(host).map_err(|_| bad(AccountKeyProblem::Host))?;
        let name = ascii_host(name).map_err(|_| bad(AccountKeyProblem::Host))?;
        if name.is_empty() {
            return Err(bad(AccountKeyProblem::Host));
        }
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Self {
            key: format!("{user}@{}{port}", name.to_ascii_lowercase()),
            at: user.len(),
        })
    }

    /// The user name.
    #[must_use]
    pub fn username(&self) -> &str {
        &self.key[..self.at]
    }

    /// The instance's host, with its port when it has one (`localhost:3000`).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.key[self.at + 1..]
    }

    /// `user@host`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({:?})", self.key)
    }
}

impl FromStr for AccountKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for AccountKey {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(&s)
    }
}

impl From<AccountKey> for String {
    fn from(k: AccountKey) -> String {
        k.key
    }
}

/// What [`CredentialStore::update_user`] runs while it holds an account's lease: given the
/// stored credentials (`None` when the store holds none for the account), it returns those to
/// store in their place (`None`: leave them as they are), or an error (then nothing is
/// stored). It must not call the store itself: the store holds the account's lease, which may
/// be the lock its other methods take.
pub type UserUpdate<'a> =
    Box<dyn FnOnce(Option<UserCredentials>) -> UserUpdateFuture<'a> + Send + 'a>;

/// The future a [`UserUpdate`] returns.
pub type UserUpdateFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<UserCredentials>, Error>> + Send + 'a>>;

/// Keeps app and user credentials: what the client needs to start with saved credentials and
/// to save the ones it obtains. Implementations live in `mastodon-auth-store` (memory,
/// Mastodon.py files, a multi-account file, PostgreSQL); applications can plug their own
/// storage.
///
/// The client calls these methods: `load_app` and `load_user` / `load_active_user` when it is
/// built from the store, `save_app` after registering an app, `save_user` when the
/// credentials are saved ([`Mastodon::save_credentials`](crate::Mastodon::save_credentials)),
/// and `update_user` to refresh an expiring token of a known account. Listing, switching and
/// removing accounts is the job of [`AccountDirectory`], which stores of several named
/// accounts add.
///
/// Single-account stores (a Mastodon.py token file) ignore account names: their one user is
/// the active one.
///
/// Errors are [`StoreError`]s: a file store names the file (and line); a store over a
/// database or a service wraps its own error with [`StoreError::backend`].
///
/// # Refreshing across processes
///
/// Pleroma-family servers issue tokens that expire, with a refresh token that works once. When
/// several processes share one account through a store, two of them must not refresh it at the
/// same time: the second refresh spends a token the first already spent, the server refuses
/// it, and that process is logged out. [`update_user`](Self::update_user) prevents this: it
/// runs the refresh while holding a *lease* on the account that every process sharing the
/// store respects, and the client compares the stored token with the one it was about to
/// send, taking the stored one when another process got there first. The default
/// implementation takes no lease; a store shared by several processes should override it.
///
/// A store that keeps one app and one user in memory, with a lease for the tasks of one
/// process:
///
/// ```
/// use std::sync::Mutex;
/// use mastodon_auth_core::{
///     AccountKey, AppCredentials, CredentialStore, Error, InstanceUrl, StoreError,
///     UserCredentials, UserUpdate,
/// };
///
/// #[derive(Default)]
/// struct OneOfEach {
///     app: Mutex<Option<AppCredentials>>,
///     user: Mutex<Option<UserCredentials>>,
///     /// Held across the refresh's `.await`: an async mutex, not a `std` one.
///     lease: tokio::sync::Mutex<()>,
/// }
///
/// #[async_trait::async_trait]
/// impl CredentialStore for OneOfEach {
///     async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
///         let app = self.app.lock().unwrap().clone();
///         Ok(app.filter(|a| a.instance == *instance))
///     }
///     async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
///         *self.app.lock().unwrap() = Some(app.clone());
///         Ok(())
///     }
///     async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError> {
///         let user = self.user.lock().unwrap().clone();
///         Ok(user.filter(|u| u.account.as_ref().is_none_or(|a| a == account)))
///     }
///     async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
///         Ok(self.user.lock().unwrap().clone())
///     }
///     async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
///         *self.user.lock().unwrap() = Some(user.clone());
///         Ok(())
///     }
///     async fn update_user(&self, account: &AccountKey, update: UserUpdate<'_>) -> Result<(), Error> {
///         // 1. The lease (released when `_lease` drops, whichever way this returns).
///         let _lease = self.lease.lock().await;
///         // 2. What is stored now, read under the lease.
///         let current = self.load_user(account).await?;
///         // 3. Store what the update returns, before the lease goes.
///         if let Some(user) = update(current).await? {
///             *self.user.lock().unwrap() = Some(user);
///         }
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = OneOfEach::default();
/// let alice: AccountKey = "alice@example.com".parse()?;
/// let user = UserCredentials::new("https://example.com".parse()?, "token".into())
///     .with_account(alice.clone());
/// store.save_user(&user).await?;
/// assert_eq!(store.load_active_user().await?, Some(user));
/// store
///     .update_user(&alice, Box::new(|current| Box::pin(async move {
///         let mut user = current.expect("alice is stored");
///         user.access_token = "new token".into();
///         Ok(Some(user))
///     })))
///     .await?;
/// let stored = store.load_user(&alice).await?.expect("still there");
/// assert_eq!(stored.access_token.expose(), "new token");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[async_trait::async_trait]
pub trait CredentialStore: Send + Sync {
    /// The app registered with `instance`, if any.
    async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError>;

    /// Keeps `app` (replacing the one for the same instance).
    async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError>;

    /// The credentials of `account`.
    async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError>;

    /// The credentials of the active account (a single-account store's only one).
    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError>;

    /// Keeps `user` (replacing the same account's) and makes it the active account.
    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError>;

    /// Runs `update` on `account`'s stored credentials while holding the account's *lease*,
    /// and stores what it returns before releasing the lease: a read-modify-write of one
    /// account that no other `update_user` of the same account, in this process or in any
    /// other sharing the store, can interleave with. The client refreshes expiring tokens
    /// through it (see [Refreshing across processes](CredentialStore#refreshing-across-processes)).
    ///
    /// An implementation:
    /// 1. takes a lease that excludes every other `update_user` of `account`, here and in
    ///    every process sharing the store (a lock file, a row or advisory lock in a
    ///    database, a mutex for a store inside one process), waiting for it as long as it
    ///    waits for its other locks. `update` makes a network request, so the lease is held
    ///    across `.await` for up to a request's timeout: not a `std::sync::Mutex` guard;
    /// 2. reads `account`'s credentials once it holds the lease and passes them to `update`
    ///    (`None` when it has none);
    /// 3. when `update` returns `Ok(Some(user))`, stores `user` as `account`'s before
    ///    releasing the lease (it need not change the active account); on `Ok(None)` stores
    ///    nothing; on `Err` stores nothing and returns the error;
    /// 4. releases the lease on every path, including when the future it returned is dropped
    ///    unfinished (the request that needed the refresh was cancelled): hold it in a guard
    ///    that releases on drop.
    ///
    /// The default implementation takes no lease: it loads the user, runs `update` and saves
    /// the result with [`save_user`](Self::save_user) (which also makes the account active).
    /// Tasks of one client still refresh once between them, but two processes sharing such a
    /// store can refresh the same token at once.
    ///
    /// # Errors
    /// The store's own errors (as [`Error::Store`]), and `update`'s.
    async fn update_user(&self, account: &AccountKey, update: UserUpdate<'_>) -> Result<(), Error> {
        let current = self.load_user(account).await?;
        if let Some(user) = update(current).await? {
            self.save_user(&user).await?;
        }
        Ok(())
    }
}

/// A [`CredentialStore`] of several named accounts, one of them active: what an account
/// switcher (a CLI's `accounts`, `use` and `logout`) needs. `mastodon-auth-store`'s
/// `MemoryStore` and `AccountsFile` implement it; the client itself never calls it.
///
/// The active account is the one [`CredentialStore::load_active_user`] returns, and
/// [`CredentialStore::save_user`] makes the saved account active.
///
/// ```
/// use mastodon_auth_core::{AccountDirectory, AccountKey, StoreError};
///
/// /// `use <account>`: switches to a known account, listing the known ones otherwise.
/// async fn switch_to(store: &dyn AccountDirectory, account: &AccountKey) -> Result<(), String> {
///     match store.set_active_user(account).await {
///         Ok(()) => Ok(()),
///         Err(StoreError::UnknownAccount(_)) => {
///             let known = store.list_users().await.map_err(|e| e.to_string())?;
///             let known: Vec<String> = known.iter().map(AccountKey::to_string).collect();
///             Err(format!("no account {account}; known: {}", known.join(", ")))
///         }
///         Err(e) => Err(e.to_string()),
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait AccountDirectory: CredentialStore {
    /// Every account kept, in a stable order.
    async fn list_users(&self) -> Result<Vec<AccountKey>, StoreError>;

    /// The active account, if there is one.
    async fn active_user(&self) -> Result<Option<AccountKey>, StoreError>;

    /// Makes `account` the active one.
    ///
    /// # Errors
    /// [`StoreError::UnknownAccount`] when the store does not keep `account`.
    async fn set_active_user(&self, account: &AccountKey) -> Result<(), StoreError>;

    /// Forgets `account` (no account is active afterwards if it was); `Ok(false)` when it was
    /// not there.
    async fn remove_user(&self, account: &AccountKey) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_11_account_keys_keep_a_non_default_port() {
        let a = InstanceUrl::parse("http://localhost:3000").unwrap();
        let b = InstanceUrl::parse("http://localhost:3001").unwrap();
        let ka = AccountKey::new("alice", &a).unwrap();
        let kb = AccountKey::new("alice", &b).unwrap();
        assert_eq!(ka.as_str(), "alice@localhost:3000");
        assert_ne!(ka, kb);
        assert_eq!(ka.host(), "localhost:3000");
        assert_eq!(ka.username(), "alice");
        let default = InstanceUrl::parse("https://Social.Example:443").unwrap();
        assert_eq!(
            AccountKey::new("bob", &default).unwrap().as_str(),
            "bob@social.example"
        );
        assert_eq!(AccountKey::parse("alice@LocalHost:3000").unwrap(), ka);
        let v6 = InstanceUrl::parse("http://[::1]:3000").unwrap();
        assert_eq!(AccountKey::new("c", &v6).unwrap().as_str(), "c@[::1]:3000");
        for bad in [
            "alice@localhost:99999",
            "alice@localhost:",
            "alice@localhost:x",
            "alice@:80",
            "alice@::1",
        ] {
            assert!(
                matches!(AccountKey::parse(bad), Err(Error::InvalidAccountKey { .. })),
                "{bad}"
            );
        }
    }
}
