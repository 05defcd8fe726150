//! The pluggable credential store, and the credentials it keeps.

use std::time::SystemTime;

use crate::account_key::AccountKey;
use crate::client_credentials::{ClientCredentials, ClientId};
use crate::error::StoreError;
use crate::instance_url::InstanceUrl;
use crate::scope::Scopes;
use crate::secret::{AccessToken, ClientSecret, RefreshToken};

/// A registered application: what `create_app` returns and what a store keeps per instance.
///
/// Serde writes the client's id and secret as the fields `client_id` and `client_secret`.
///
/// ```
/// use mastodon_auth_core::{AppCredentials, ClientCredentials};
/// let app = AppCredentials::new("https://example.com".parse()?, ClientCredentials::new("id", "s3cr3t"));
/// assert!(!format!("{app:?}").contains("s3cr3t"));
/// assert_eq!(
///     serde_json::to_string(&app).unwrap(),
///     r#"{"instance":"https://example.com","client_id":"id","client_secret":"s3cr3t"}"#
/// );
/// # Ok::<(), mastodon_auth_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct AppCredentials {
    /// The instance the app is registered with.
    pub instance: InstanceUrl,
    /// The OAuth client id and secret.
    #[serde(flatten)]
    pub client: ClientCredentials,
    /// The application's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The scopes the app was registered with, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Scopes>,
    /// The redirect URIs the app was registered with, when known.
    ///
    /// Kept as the server took them, not as [`RedirectUri`](crate::RedirectUri)s: the
    /// server is the judge of what it registered (Mastodon accepts plain `http` to any host,
    /// which `RedirectUri` refuses), and one URI the checks refuse must not make a stored
    /// app unreadable. Nothing is sent from this list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
}

impl AppCredentials {
    /// Credentials with only the required parts.
    #[must_use]
    pub fn new(instance: InstanceUrl, client: ClientCredentials) -> Self {
        Self {
            instance,
            client,
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
///
/// Serde writes the client's id and secret as the fields `client_id` and `client_secret`,
/// both or neither; reading one without the other is an error naming the missing field.
///
/// ```
/// use mastodon_auth_core::UserCredentials;
/// let json = r#"{"instance":"https://example.com","access_token":"t","client_id":"id"}"#;
/// let err = serde_json::from_str::<UserCredentials>(json).unwrap_err();
/// assert!(err.to_string().starts_with("missing field `client_secret`"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(into = "UserCredentialsFields")]
#[non_exhaustive]
pub struct UserCredentials {
    /// The instance.
    pub instance: InstanceUrl,
    /// `user@instance`, once known (a Mastodon.py token file does not say).
    pub account: Option<AccountKey>,
    /// The bearer token.
    pub access_token: AccessToken,
    /// The refresh token, from servers that issue them.
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires, for servers that say (`expires_in`).
    pub expires_at: Option<SystemTime>,
    /// The scopes granted, when known.
    pub scopes: Option<Scopes>,
    /// The app's client id and secret (needed to revoke or refresh).
    pub client: Option<ClientCredentials>,
}

/// How [`UserCredentials`] are written: the client's id and secret as two fields, as they
/// always were, so that files written before the two became one value still read.
#[derive(serde::Serialize, serde::Deserialize)]
struct UserCredentialsFields {
    instance: InstanceUrl,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<AccountKey>,
    access_token: AccessToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "epoch_secs")]
    expires_at: Option<SystemTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scopes: Option<Scopes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<ClientId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<ClientSecret>,
}

impl From<UserCredentials> for UserCredentialsFields {
    fn from(user: UserCredentials) -> Self {
        let (client_id, client_secret) = match user.client {
            Some(client) => (Some(client.id), Some(client.secret)),
            None => (None, None),
        };
        Self {
            instance: user.instance,
            account: user.account,
            access_token: user.access_token,
            refresh_token: user.refresh_token,
            expires_at: user.expires_at,
            scopes: user.scopes,
            client_id,
            client_secret,
        }
    }
}

impl<'de> serde::Deserialize<'de> for UserCredentials {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fields = UserCredentialsFields::deserialize(d)?;
        let client = ClientCredentials::from_halves(fields.client_id, fields.client_secret)
            .map_err(|e| serde::de::Error::missing_field(e.missing_field()))?;
        Ok(Self {
            instance: fields.instance,
            account: fields.account,
            access_token: fields.access_token,
            refresh_token: fields.refresh_token,
            expires_at: fields.expires_at,
            scopes: fields.scopes,
            client,
        })
    }
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
            client: None,
        }
    }

    /// Sets the account.
    #[must_use]
    pub fn with_account(mut self, account: AccountKey) -> Self {
        self.account = Some(account);
        self
    }

    /// Sets the app's client credentials.
    #[must_use]
    pub fn with_client(mut self, client: ClientCredentials) -> Self {
        self.client = Some(client);
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

/// An account's *lease*, taken with [`CredentialStore::lease_user`]: while it is held, no
/// other lease of the same account can be taken, in this process or, for a store shared by
/// several processes, in any of them. It carries what the store held for the account when
/// the lease was taken ([`current`](Self::current)), and stores new credentials before it is
/// released ([`save`](Self::save)). Dropping it releases it without storing anything.
///
/// A lease is a guard: hold it in a local across the `.await`s of the work it protects (the
/// client holds it across one token request), and let it drop, or save through it, when done.
/// Whatever the lease holds (a lock-file handle, a database transaction, an async mutex's
/// owned guard) is released in its `Drop`, so a lease is released on every path, including a
/// future that is dropped unfinished.
#[async_trait::async_trait]
pub trait UserLease: Send {
    /// The account's credentials as they were when the lease was taken (`None` when the store
    /// held none). Under the lease nobody else can change them, so this is also what is stored
    /// now, unless this lease has been used to store something else.
    fn current(&self) -> Option<&UserCredentials>;

    /// Stores `user` as the account's credentials, then releases the lease. The account of
    /// the lease is the one stored, whatever `user.account` says; whether the account also
    /// becomes the active one is the store's choice (see
    /// [`CredentialStore::lease_user`]).
    ///
    /// # Errors
    /// The store's errors; nothing is stored then, and the lease is released all the same.
    async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError>;
}

/// The lease of [`CredentialStore::lease_user`]'s default implementation: no lease at all, the
/// account loaded when it was taken and saved with [`CredentialStore::save_user`].
struct Unleased<'a, S: ?Sized> {
    store: &'a S,
    current: Option<UserCredentials>,
    account: AccountKey,
}

#[async_trait::async_trait]
impl<S: CredentialStore + ?Sized> UserLease for Unleased<'_, S> {
    fn current(&self) -> Option<&UserCredentials> {
        self.current.as_ref()
    }

    async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError> {
        let mut user = user.clone();
        user.account = Some(self.account.clone());
        self.store.save_user(&user).await
    }
}

/// Keeps app and user credentials: what the client needs to start with saved credentials and
/// to save the ones it obtains. Implementations live in `mastodon-auth-store` (memory,
/// Mastodon.py files, a multi-account file, PostgreSQL); applications can plug their own
/// storage.
///
/// The client calls these methods: `load_app` and `load_user` / `load_active_user` when it is
/// built from the store, `save_app` after registering an app, `save_user` when the
/// credentials are saved ([`Mastodon::save_credentials`](crate::Mastodon::save_credentials)),
/// and `lease_user` to refresh an expiring token of a known account, or to read what another
/// process stored after the server refused the token this one sent. Listing, switching and
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
/// it, and that process is logged out. [`lease_user`](Self::lease_user) prevents this: the
/// client refreshes while holding a *lease* on the account that every process sharing the
/// store respects, compares the stored token ([`UserLease::current`]) with the one it was
/// about to send, taking the stored one when another process got there first, and stores the
/// new credentials ([`UserLease::save`]) before the lease is released. The default
/// implementation takes no lease; a store shared by several processes should override it.
///
/// A store that keeps one app and one user in memory, with a lease for the tasks of one
/// process:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use mastodon_auth_core::{
///     AccountKey, AppCredentials, CredentialStore, InstanceUrl, StoreError, UserCredentials,
///     UserLease,
/// };
///
/// #[derive(Default)]
/// struct OneOfEach {
///     app: Mutex<Option<AppCredentials>>,
///     user: Arc<Mutex<Option<UserCredentials>>>,
///     /// Held across the refresh's `.await`s: an async mutex, not a `std` one.
///     lease: Arc<tokio::sync::Mutex<()>>,
/// }
///
/// /// The lease: the mutex's owned guard (released when the lease drops, whichever way),
/// /// and what was stored when it was taken.
/// struct Leased {
///     _guard: tokio::sync::OwnedMutexGuard<()>,
///     user: Arc<Mutex<Option<UserCredentials>>>,
///     current: Option<UserCredentials>,
/// }
///
/// #[async_trait::async_trait]
/// impl UserLease for Leased {
///     fn current(&self) -> Option<&UserCredentials> {
///         self.current.as_ref()
///     }
///     async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError> {
///         // Stored before `_guard` drops with `self`.
///         *self.user.lock().unwrap() = Some(user.clone());
///         Ok(())
///     }
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
///     async fn lease_user(&self, account: &AccountKey) -> Result<Box<dyn UserLease + '_>, StoreError> {
///         // 1. The lease, 2. then what is stored now, read under it.
///         let guard = self.lease.clone().lock_owned().await;
///         let current = self.load_user(account).await?;
///         Ok(Box::new(Leased { _guard: guard, user: self.user.clone(), current }))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = OneOfEach::default();
/// let alice: AccountKey = "alice@example.com".parse()?;
/// let user = UserCredentials::new("https://example.com".parse()?, "token".into())
///     .with_account(alice.clone());
/// store.save_user(&user).await?;
///
/// // A read-modify-write under the lease: what the client's refresh does.
/// let lease = store.lease_user(&alice).await?;
/// let mut refreshed = lease.current().cloned().expect("alice is stored");
/// refreshed.access_token = "new token".into();
/// lease.save(&refreshed).await?;
/// let stored = store.load_user(&alice).await?.expect("still there");
/// assert_eq!(stored.access_token.expose(), "new token");
///
/// // A read under the lease: look, then let it drop.
/// let seen = store.lease_user(&alice).await?.current().cloned();
/// assert_eq!(seen, Some(stored));
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

    /// Takes `account`'s *lease* and reads its credentials under it: the lease makes a
    /// read-modify-write of one account ([`UserLease::current`], then [`UserLease::save`])
    /// that no other lease of the same account, in this process or in any other sharing the
    /// store, can interleave with. The client refreshes expiring tokens under it (see
    /// [Refreshing across processes](CredentialStore#refreshing-across-processes)).
    ///
    /// An implementation:
    /// 1. takes a lease that excludes every other lease of `account`, here and in every
    ///    process sharing the store (a lock file, a row or advisory lock in a database, a
    ///    mutex for a store inside one process), waiting for it as long as it waits for its
    ///    other locks. The client makes a network request under it, so the lease is held
    ///    across `.await` for up to a request's timeout: not a `std::sync::Mutex` guard;
    /// 2. reads `account`'s credentials once it holds the lease, for
    ///    [`current`](UserLease::current) (`None` when it has none);
    /// 3. on [`save`](UserLease::save), stores the credentials as `account`'s before
    ///    releasing the lease (it need not change the active account); on an error stores
    ///    nothing;
    /// 4. releases the lease on every path: when the lease is saved, when it is dropped
    ///    without saving (which stores nothing), and when the future `lease_user` returned is
    ///    dropped unfinished (the request that needed the refresh was cancelled) or the future
    ///    of `save` is: hold what locks in a guard that releases on drop.
    ///
    /// The default implementation takes no lease: it loads the user, and its lease saves with
    /// [`save_user`](Self::save_user) (which also makes the account active). Tasks of one
    /// client still refresh once between them, but two processes sharing such a store can
    /// refresh the same token at once.
    ///
    /// # Errors
    /// The store's own errors: taking the lease, or reading the account under it, failed
    /// (and nothing is held).
    async fn lease_user(
        &self,
        account: &AccountKey,
    ) -> Result<Box<dyn UserLease + '_>, StoreError> {
        let current = self.load_user(account).await?;
        Ok(Box::new(Unleased {
            store: self,
            current,
            account: account.clone(),
        }))
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
    fn stored_credentials_keep_their_field_names_and_refuse_half_a_client() {
        let base = InstanceUrl::parse("https://example.com").unwrap();
        let user = UserCredentials::new(base.clone(), AccessToken::new("t"))
            .with_client(ClientCredentials::new("i", "s"));
        let json = serde_json::to_string(&user).unwrap();
        assert_eq!(
            json,
            r#"{"instance":"https://example.com","access_token":"t","client_id":"i","client_secret":"s"}"#
        );
        assert_eq!(
            serde_json::from_str::<UserCredentials>(&json).unwrap(),
            user
        );
        let bare = UserCredentials::new(base.clone(), AccessToken::new("t"));
        let json = serde_json::to_string(&bare).unwrap();
        assert_eq!(
            json,
            r#"{"instance":"https://example.com","access_token":"t"}"#
        );
        assert_eq!(
            serde_json::from_str::<UserCredentials>(&json).unwrap(),
            bare
        );
        let no_id = r#"{"instance":"https://example.com","access_token":"t","client_secret":"s"}"#;
        let err = serde_json::from_str::<UserCredentials>(no_id).unwrap_err();
        assert!(
            err.to_string().starts_with("missing field `client_id`"),
            "{err}"
        );

        let app = AppCredentials::new(base, ClientCredentials::new("i", "s"));
        let json = serde_json::to_string(&app).unwrap();
        assert_eq!(
            json,
            r#"{"instance":"https://example.com","client_id":"i","client_secret":"s"}"#
        );
        assert_eq!(serde_json::from_str::<AppCredentials>(&json).unwrap(), app);
        let err = serde_json::from_str::<AppCredentials>(
            r#"{"instance":"https://example.com","client_id":"i"}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("missing field `client_secret`"),
            "{err}"
        );
    }
}
