//! A credential store in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mastodon_auth_core::{
    AccountDirectory, AccountKey, AppCredentials, CredentialStore, InstanceUrl, StoreError,
    UserCredentials, UserLease,
};

#[derive(Debug, Default)]
struct Inner {
    apps: BTreeMap<InstanceUrl, AppCredentials>,
    users: BTreeMap<AccountKey, UserCredentials>,
    active: Option<AccountKey>,
    /// The last saved user whose account was not known, like a Mastodon.py token file.
    unnamed: Option<UserCredentials>,
    /// The lease of each account ever leased with `lease_user`. Entries stay (removing one
    /// while a task holds it would let a second lease begin); they are as many as accounts.
    leases: BTreeMap<AccountKey, Arc<tokio::sync::Mutex<()>>>,
}

/// Keeps credentials in memory, for tests and short-lived programs. Clones share the same
/// credentials.
///
/// [`lease_user`](CredentialStore::lease_user) takes a lock per account, so the clients of
/// one process sharing the store refresh an account's token once between them. Saving
/// through the lease leaves the active account as it is.
///
/// Users are kept per account. A user saved without an account (right after a log-in, before
/// the account is known) becomes the active user without a name, like a Mastodon.py token
/// file: [`load_active_user`](CredentialStore::load_active_user) returns it, while
/// [`active_user`](AccountDirectory::active_user) and
/// [`list_users`](AccountDirectory::list_users) do not show it.
///
/// ```
/// use mastodon_auth_core::{AccessToken, CredentialStore, UserCredentials};
/// use mastodon_auth_store::MemoryStore;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let store = MemoryStore::new();
/// let alice = "alice@example.com".parse()?;
/// let user = UserCredentials::new("https://example.com".parse()?, AccessToken::new("t"))
///     .with_account(alice);
/// store.clone().save_user(&user).await?;
/// assert_eq!(store.load_active_user().await?, Some(user));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every update is a single map operation, so a panic elsewhere cannot leave the maps
        // half-updated: the data behind a poisoned lock is still sound.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl CredentialStore for MemoryStore {
    async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        Ok(self.inner().apps.get(instance).cloned())
    }

    async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
        self.inner().apps.insert(app.instance.clone(), app.clone());
        Ok(())
    }

    async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError> {
        Ok(self.inner().users.get(account).cloned())
    }

    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
        let inner = self.inner();
        Ok(match &inner.active {
            Some(key) => inner.users.get(key).cloned(),
            None => inner.unnamed.clone(),
        })
    }

    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
        let mut inner = self.inner();
        if let Some(key) = &user.account {
            inner.users.insert(key.clone(), user.clone());
            inner.active = Some(key.clone());
            inner.unnamed = None;
        } else {
            inner.active = None;
            inner.unnamed = Some(user.clone());
        }
        Ok(())
    }

    async fn lease_user(
        &self,
        account: &AccountKey,
    ) -> Result<Box<dyn UserLease + '_>, StoreError> {
        let lease = self
            .inner()
            .leases
            .entry(account.clone())
            .or_default()
            .clone();
        let guard = lease.lock_owned().await;
        let current = self.inner().users.get(account).cloned();
        Ok(Box::new(MemoryLease {
            _guard: guard,
            store: self,
            account: account.clone(),
            current,
        }))
    }
}

/// A [`MemoryStore`] account's lease: the guard of the account's mutex, released on drop.
struct MemoryLease<'a> {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    store: &'a MemoryStore,
    account: AccountKey,
    current: Option<UserCredentials>,
}

#[async_trait::async_trait]
impl UserLease for MemoryLease<'_> {
    fn current(&self) -> Option<&UserCredentials> {
        self.current.as_ref()
    }

    async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError> {
        let mut user = user.clone();
        user.account = Some(self.account.clone());
        self.store.inner().users.insert(self.account.clone(), user);
        Ok(())
    }
}

#[async_trait::async_trait]
impl AccountDirectory for MemoryStore {
    async fn list_users(&self) -> Result<Vec<AccountKey>, StoreError> {
        Ok(self.inner().users.keys().cloned().collect())
    }

    async fn active_user(&self) -> Result<Option<AccountKey>, StoreError> {
        Ok(self.inner().active.clone())
    }

    async fn set_active_user(&self, account: &AccountKey) -> Result<(), StoreError> {
        let mut inner = self.inner();
        if !inner.users.contains_key(account) {
            return Err(StoreError::UnknownAccount(account.clone()));
        }
        inner.active = Some(account.clone());
        inner.unnamed = None;
        Ok(())
    }

    async fn remove_user(&self, account: &AccountKey) -> Result<bool, StoreError> {
        let mut inner = self.inner();
        let removed = inner.users.remove(account).is_some();
        if inner.active.as_ref() == Some(account) {
            inner.active = None;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use mastodon_auth_core::{AccessToken, ClientCredentials};

    use super::*;

    fn user(name: &str, token: &str) -> UserCredentials {
        UserCredentials::new(
            "https://example.com".parse().unwrap(),
            AccessToken::new(token),
        )
        .with_account(format!("{name}@example.com").parse().unwrap())
    }

    #[tokio::test]
    async fn clones_share_state() {
        let a = MemoryStore::new();
        let b = a.clone();
        let app = AppCredentials::new(
            "https://example.com".parse().unwrap(),
            ClientCredentials::new("id", "s"),
        );
        a.save_app(&app).await.unwrap();
        assert_eq!(b.load_app(&app.instance).await.unwrap(), Some(app));
    }

    #[tokio::test]
    async fn save_makes_active_and_remove_clears_it() {
        let store = MemoryStore::new();
        let alice = user("alice", "t1");
        let bob = user("bob", "t2");
        store.save_user(&alice).await.unwrap();
        store.save_user(&bob).await.unwrap();
        assert_eq!(store.active_user().await.unwrap(), bob.account);
        assert_eq!(
            store.list_users().await.unwrap(),
            vec![alice.account.clone().unwrap(), bob.account.clone().unwrap()]
        );
        let bob_key = bob.account.clone().unwrap();
        assert!(store.remove_user(&bob_key).await.unwrap());
        assert!(!store.remove_user(&bob_key).await.unwrap());
        assert_eq!(store.active_user().await.unwrap(), None);
        assert_eq!(store.load_active_user().await.unwrap(), None);
    }

    #[tokio::test]
    async fn switching_to_an_unknown_account_fails() {
        let store = MemoryStore::new();
        let key: AccountKey = "carol@example.com".parse().unwrap();
        assert!(matches!(
            store.set_active_user(&key).await,
            Err(StoreError::UnknownAccount(k)) if k == key
        ));
        let alice = user("alice", "t1");
        store.save_user(&alice).await.unwrap();
        store.save_user(&user("bob", "t2")).await.unwrap();
        store
            .set_active_user(alice.account.as_ref().unwrap())
            .await
            .unwrap();
        assert_eq!(store.load_active_user().await.unwrap(), Some(alice));
    }

    #[tokio::test]
    async fn a_user_without_account_is_the_unnamed_active_user() {
        let store = MemoryStore::new();
        let anon = UserCredentials::new(
            "https://example.com".parse().unwrap(),
            AccessToken::new("t"),
        );
        store.save_user(&anon).await.unwrap();
        assert_eq!(store.load_active_user().await.unwrap(), Some(anon));
        assert_eq!(store.active_user().await.unwrap(), None);
        assert!(store.list_users().await.unwrap().is_empty());
        let alice = user("alice", "t1");
        store.save_user(&alice).await.unwrap();
        assert_eq!(store.load_active_user().await.unwrap(), Some(alice));
    }
}
