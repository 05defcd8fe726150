//! Several accounts on several instances in one JSON file, with an active account.

mod document;

use std::path::{Path, PathBuf};

use mastodon_auth_core::{
    AccountDirectory, AccountKey, AppCredentials, CredentialStore, InstanceUrl, StoreError,
    UserCredentials, UserLease,
};

use crate::atomic::{self, FileLock, LockWait};
use document::Document;
pub use document::FORMAT_VERSION;

/// A multi-account credential file, in the spirit of toot's: apps per instance, users per
/// `user@host`, and an active user.
///
/// ```json
/// {
///   "version": 1,
///   "apps": { "https://example.com": { "client_id": "…", "client_secret": "…", "name": "…" } },
///   "users": { "alice@example.com": { "instance": "https://example.com", "access_token": "…" } },
///   "active": "alice@example.com"
/// }
/// ```
///
/// Every call reads the file, so several programs can share it. Every change is a
/// read-modify-write under an exclusive lock on `<file>.lock`, written atomically with mode
/// 0600, so concurrent writers never lose each other's updates; a lock held by another process
/// is waited for as [`lock_wait`](Self::lock_wait) says (30 s by default). A file that cannot
/// be read or parsed (or that a newer version of this crate wrote) is an error naming it, and
/// is never overwritten; so are two entries that are one account (`bob@X.example` and
/// `bob@x.example`). Fields this version does not know, at the top level or in an entry,
/// are written back as they were. A UTF-8 byte order mark at the start is accepted.
///
/// When the file is a symbolic link, the file it points to is the one rewritten (and its
/// lock is beside it): the link stays.
///
/// [`lease_user`](CredentialStore::lease_user) (the client's token refresh) holds the same
/// lock while the refresh request is in flight, so processes sharing the file refresh an
/// account once between them; other changes to the file wait for it meanwhile. Saving
/// through the lease leaves the active account as it is.
///
/// ```
/// use mastodon_auth_core::{AccessToken, AccountDirectory, CredentialStore, UserCredentials};
/// use mastodon_auth_store::AccountsFile;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let store = AccountsFile::open(dir.path().join("accounts.json"));
/// let alice = "alice@example.com".parse()?;
/// let user = UserCredentials::new("https://example.com".parse()?, AccessToken::new("t"))
///     .with_account(alice);
/// store.save_user(&user).await?;
/// assert_eq!(store.active_user().await?, user.account);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AccountsFile {
    path: PathBuf,
    lock_wait: LockWait,
}

impl AccountsFile {
    /// A store over the file at `path`. Nothing is read or created until the first call; a
    /// missing file is an empty store.
    #[must_use]
    pub fn open(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock_wait: LockWait::new(),
        }
    }

    /// How long a change waits for another process's lock on the file, and whom it tells
    /// that it is waiting (by default 30 s, telling nobody).
    #[must_use]
    pub fn lock_wait(mut self, lock_wait: LockWait) -> Self {
        self.lock_wait = lock_wait;
        self
    }

    /// `<platform config folder>/mastodon-auth/accounts.json` (for example
    /// `~/.config/mastodon-auth/accounts.json` on Linux), or `None` when the platform has no
    /// config folder.
    #[must_use]
    pub fn default_location() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("mastodon-auth").join("accounts.json"))
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Document) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        atomic::blocking(&self.path, move || f(load(&path)?)).await
    }

    /// Runs `f` on the current content under the lock and writes the result back when `f`
    /// says it changed something.
    async fn update<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Document) -> Result<(T, bool), StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        let lock_wait = self.lock_wait.clone();
        atomic::blocking(&self.path, move || {
            let _lock = atomic::lock(&path, &lock_wait)?;
            rewrite(&path, f)
        })
        .await
    }

    /// Takes the file's lock, waiting on the blocking pool; the lock is released when the
    /// returned guard drops.
    async fn lock(&self) -> Result<FileLock, StoreError> {
        let path = self.path.clone();
        let lock_wait = self.lock_wait.clone();
        atomic::blocking(&self.path, move || atomic::lock(&path, &lock_wait)).await
    }
}

fn load(path: &Path) -> Result<Document, StoreError> {
    match atomic::read_bounded(path)? {
        Some(text) => Document::parse(&text, path),
        None => Ok(Document::default()),
    }
}

/// Runs `f` on the file's content and writes the result back when `f` says it changed
/// something. The caller holds the file's lock.
fn rewrite<T>(
    path: &Path,
    f: impl FnOnce(&mut Document) -> Result<(T, bool), StoreError>,
) -> Result<T, StoreError> {
    // A file that fails to load is returned as an error here, before any write.
    let mut doc = load(path)?;
    let (out, changed) = f(&mut doc)?;
    if changed {
        atomic::write_atomic(path, doc.render(path)?.as_bytes())?;
    }
    Ok(out)
}

#[async_trait::async_trait]
impl CredentialStore for AccountsFile {
    async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        let key = instance.to_string();
        self.read(move |mut doc| Ok(doc.apps.remove(&key).map(|e| e.creds)))
            .await
    }

    async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
        let app = app.clone();
        self.update(move |doc| {
            doc.put_app(app);
            Ok(((), true))
        })
        .await
    }

    async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError> {
        let key = account.to_string();
        self.read(move |mut doc| Ok(doc.take_user(&key))).await
    }

    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
        self.read(|mut doc| Ok(doc.take_active_user())).await
    }

    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
        let Some(account) = &user.account else {
            return Err(StoreError::AccountRequired);
        };
        let key = account.to_string();
        let user = user.clone();
        self.update(move |doc| {
            doc.put_user(key.clone(), user);
            doc.active = Some(key);
            Ok(((), true))
        })
        .await
    }

    async fn lease_user(
        &self,
        account: &AccountKey,
    ) -> Result<Box<dyn UserLease + '_>, StoreError> {
        // The file's lock is the lease: held by the lease across the client's request, and
        // released when it drops (or when this future is dropped once the lock is taken).
        let lock = self.lock().await?;
        let current = self.load_user(account).await?;
        Ok(Box::new(FileLease {
            lock,
            store: self,
            account: account.clone(),
            current,
        }))
    }
}

/// An [`AccountsFile`] account's lease: the file's lock.
struct FileLease<'a> {
    lock: FileLock,
    store: &'a AccountsFile,
    account: AccountKey,
    current: Option<UserCredentials>,
}

#[async_trait::async_trait]
impl UserLease for FileLease<'_> {
    fn current(&self) -> Option<&UserCredentials> {
        self.current.as_ref()
    }

    async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError> {
        let FileLease {
            lock,
            store,
            account,
            ..
        } = *self;
        let mut user = user.clone();
        user.account = Some(account.clone());
        let key = account.to_string();
        let path = store.path.clone();
        atomic::blocking(&store.path, move || {
            // Released once the file is rewritten.
            let _lock = lock;
            rewrite(&path, move |doc| {
                doc.put_user(key, user);
                Ok(((), true))
            })
        })
        .await
    }
}

#[async_trait::async_trait]
impl AccountDirectory for AccountsFile {
    async fn list_users(&self) -> Result<Vec<AccountKey>, StoreError> {
        self.read(|doc| {
            Ok(doc
                .users
                .into_values()
                .filter_map(|e| e.creds.account)
                .collect())
        })
        .await
    }

    async fn active_user(&self) -> Result<Option<AccountKey>, StoreError> {
        self.read(|mut doc| Ok(doc.take_active_user().and_then(|u| u.account)))
            .await
    }

    async fn set_active_user(&self, account: &AccountKey) -> Result<(), StoreError> {
        let account = account.clone();
        let key = account.to_string();
        self.update(move |doc| {
            if !doc.users.contains_key(&key) {
                return Err(StoreError::UnknownAccount(account));
            }
            let changed = doc.active.as_deref() != Some(key.as_str());
            doc.active = Some(key);
            Ok(((), changed))
        })
        .await
    }

    async fn remove_user(&self, account: &AccountKey) -> Result<bool, StoreError> {
        let key = account.to_string();
        self.update(move |doc| {
            let removed = doc.users.remove(&key).is_some();
            if doc.active.as_deref() == Some(key.as_str()) {
                doc.active = None;
            }
            Ok((removed, removed))
        })
        .await
    }
}
