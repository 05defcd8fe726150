//! [`MastodonPyFiles`]: a Mastodon.py client file and user file as a credential store, with
//! Mastodon.py's base-URL checks (`Mastodon.__init__`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use mastodon_auth_core::{
    AccessToken, AccountKey, AppCredentials, CredentialStore, InstanceUrl, StoreError,
    StoreOperation, UserCredentials, UserLease,
};

use super::format::{
    ClientFile, UserFile, parse_client_file, parse_user_file, render_client_file, render_user_file,
};
use crate::atomic::{self, FileLock, LockWait, corrupt};

/// A Mastodon.py client file and/or user file as a [`CredentialStore`], so credentials can be
/// shared with Python scripts in both directions.
///
/// It keeps one app and one user. Account names are not in the files: the user is the active
/// one whatever its account, and its [`account`](UserCredentials::account) is known only
/// while the file holds the token this store saved with an account in this process. Having
/// no names to list or switch between, it is not an
/// [`AccountDirectory`](mastodon_auth_core::AccountDirectory);
/// [`remove_user_file`](Self::remove_user_file) logs the user out. Refresh tokens, expiry and
/// scopes are not part of the format and are not kept.
///
/// The base URL is checked as Mastodon.py checks it: the configured instance
/// ([`with_instance`](Self::with_instance), and the instance a caller asks for), the client
/// file's line 3 and the user file's line 2 must agree, else
/// [`StoreError::BaseUrlMismatch`].
///
/// Writes are atomic, mode 0600, and serialised between processes by a lock on
/// `<file>.lock`, waited for as [`lock_wait`](Self::lock_wait) says. A file that exists but
/// cannot be parsed is never overwritten: saving fails with the same error as loading. A file
/// that is a symbolic link stays one: the file it points to is rewritten. A UTF-8 byte order
/// mark at the start of a file is ignored.
///
/// [`lease_user`](CredentialStore::lease_user) (the client's token refresh) holds the user
/// file's lock while the refresh request is in flight. The files have no place for a refresh
/// token or an expiry, so a process that loads them has nothing to refresh with: for
/// expiring tokens shared by several processes, prefer `AccountsFile` or a database.
///
/// ```
/// use mastodon_auth_core::{AccessToken, ClientCredentials, CredentialStore, UserCredentials};
/// use mastodon_auth_store::MastodonPyFiles;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let store = MastodonPyFiles::new(dir.path().join("clientcred.secret"), dir.path().join("usercred.secret"));
/// let user = UserCredentials::new("https://example.com".parse()?, AccessToken::new("tok"))
///     .with_client(ClientCredentials::new("cid", "csec"));
/// store.save_user(&user).await?;
/// assert_eq!(
///     std::fs::read_to_string(dir.path().join("usercred.secret"))?,
///     "tok\nhttps://example.com\ncid\ncsec\n"
/// );
/// assert_eq!(store.load_active_user().await?, Some(user));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MastodonPyFiles {
    client_path: Option<PathBuf>,
    user_path: Option<PathBuf>,
    instance: Option<InstanceUrl>,
    lock_wait: LockWait,
    /// The account of the user this store last saved, with its token, so the account can be
    /// named while the file still holds that token.
    known: Arc<Mutex<Option<(AccountKey, AccessToken)>>>,
}

impl MastodonPyFiles {
    /// A store over a client file and a user file (Mastodon.py's `clientcred.secret` and
    /// `usercred.secret`). Neither needs to exist yet.
    #[must_use]
    pub fn new(client_path: impl Into<PathBuf>, user_path: impl Into<PathBuf>) -> Self {
        Self::from_parts(Some(client_path.into()), Some(user_path.into()))
    }

    /// A store with only a client file: it keeps an app, and no user.
    #[must_use]
    pub fn client_only(client_path: impl Into<PathBuf>) -> Self {
        Self::from_parts(Some(client_path.into()), None)
    }

    /// A store with only a user file (like `Mastodon(access_token="usercred.secret")`).
    #[must_use]
    pub fn user_only(user_path: impl Into<PathBuf>) -> Self {
        Self::from_parts(None, Some(user_path.into()))
    }

    fn from_parts(client_path: Option<PathBuf>, user_path: Option<PathBuf>) -> Self {
        Self {
            client_path,
            user_path,
            instance: None,
            lock_wait: LockWait::new(),
            known: Arc::default(),
        }
    }

    /// How long a save waits for another process's lock on a file, and whom it tells that it
    /// is waiting (by default 30 s, telling nobody).
    #[must_use]
    pub fn lock_wait(mut self, lock_wait: LockWait) -> Self {
        self.lock_wait = lock_wait;
        self
    }

    /// Deletes the user file (logging the user out locally; revoke the token first), under
    /// its lock. When the file is a symbolic link, the file it points to is deleted and the
    /// link stays. `Ok(false)` when there was no file.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] for a store without a user file; [`StoreError::Io`] or
    /// [`StoreError::LockTimeout`] when the file cannot be locked or removed.
    pub async fn remove_user_file(&self) -> Result<bool, StoreError> {
        let path = self.user_file(StoreOperation::RemoveUser)?;
        let lock_wait = self.lock_wait.clone();
        let removed = atomic::blocking(&path.clone(), move || {
            // Nothing to remove (no file, or a link to none): do not create a lock file (or its
            // folders) just to find out.
            if std::fs::metadata(&path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
                return Ok(false);
            }
            let _lock = atomic::lock(&path, &lock_wait)?;
            atomic::remove(&path)
        })
        .await?;
        *self.known.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(removed)
    }

    /// The instance the files are for (Mastodon.py's `api_base_url`): checked against the
    /// files' base URLs, and the only source of it for a one-line token file.
    #[must_use]
    pub fn with_instance(mut self, instance: InstanceUrl) -> Self {
        self.instance = Some(instance);
        self
    }

    /// The client file, if this store has one.
    #[must_use]
    pub fn client_path(&self) -> Option<&Path> {
        self.client_path.as_deref()
    }

    /// The user file, if this store has one.
    #[must_use]
    pub fn user_path(&self) -> Option<&Path> {
        self.user_path.as_deref()
    }

    /// The configured instance.
    #[must_use]
    pub fn instance(&self) -> Option<&InstanceUrl> {
        self.instance.as_ref()
    }

    fn any_path(&self) -> &Path {
        self.user_path
            .as_deref()
            .or(self.client_path.as_deref())
            .unwrap_or(Path::new(""))
    }

    fn read_client(&self) -> Result<Option<(ClientFile, &Path)>, StoreError> {
        let Some(path) = self.client_path.as_deref() else {
            return Ok(None);
        };
        match atomic::read_bounded(path)? {
            Some(text) => Ok(Some((parse_client_file(&text, path)?, path))),
            None => Ok(None),
        }
    }

    fn load_app_sync(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        let Some((file, path)) = self.read_client()? else {
            return Ok(None);
        };
        let found = file
            .base_url
            .clone()
            .or_else(|| self.instance.clone())
            .unwrap_or_else(|| instance.clone());
        agree(&found, Some(instance), path)?;
        agree(&found, self.instance.as_ref(), path)?;
        let mut app = AppCredentials::new(found, file.client);
        app.name = file.name.filter(|n| !n.is_empty());
        Ok(Some(app))
    }

    fn load_user_sync(&self) -> Result<Option<UserCredentials>, StoreError> {
        let Some(user_path) = self.user_path.as_deref() else {
            return Ok(None);
        };
        let Some(text) = atomic::read_bounded(user_path)? else {
            return Ok(None);
        };
        let file = parse_user_file(&text, user_path)?;
        let client = self.read_client()?;
        // Mastodon.py's order: the configured URL, then the client file's, then the user
        // file's, each checked against what is known so far.
        let mut base = self.instance.clone();
        if let Some(url) = client.as_ref().and_then(|(c, _)| c.base_url.as_ref()) {
            let path = client.as_ref().map_or(user_path, |(_, p)| p);
            agree(url, base.as_ref(), path)?;
            base = Some(url.clone());
        }
        if let Some(url) = &file.base_url {
            agree(url, base.as_ref(), user_path)?;
            base = Some(url.clone());
        }
        let Some(instance) = base else {
            return Err(corrupt(
                user_path,
                Some(2),
                "the base URL is missing: the file has no URL line and no instance was \
                 configured (MastodonPyFiles::with_instance)",
            ));
        };
        let mut user = UserCredentials::new(instance, file.access_token);
        // As in Mastodon.py, the token file's client lines count only without a client file.
        user.client = match client {
            Some((c, _)) => Some(c.client),
            None => file.client,
        };
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((account, token)) = known.as_ref()
            && *token == user.access_token
        {
            user.account = Some(account.clone());
        }
        Ok(Some(user))
    }

    fn check_instance(&self, instance: &InstanceUrl, path: &Path) -> Result<(), StoreError> {
        agree(instance, self.instance.as_ref(), path)
    }

    /// The user file's path, or the error saying this store has none.
    fn user_file(&self, operation: StoreOperation) -> Result<PathBuf, StoreError> {
        self.user_path.clone().ok_or(StoreError::Unsupported {
            operation,
            reason: "this MastodonPyFiles store was made without a user file",
        })
    }

    /// The user file's new content for `user`, checked against the configured instance.
    fn user_file_contents(
        &self,
        user: &UserCredentials,
        path: &Path,
    ) -> Result<String, StoreError> {
        self.check_instance(&user.instance, path)?;
        let mut file =
            UserFile::new(user.access_token.clone()).with_base_url(user.instance.clone());
        file.client.clone_from(&user.client);
        render_user_file(&file, path)
    }

    /// Remembers the account of the user just written, while the file holds its token.
    fn remember(&self, user: &UserCredentials) {
        *self.known.lock().unwrap_or_else(PoisonError::into_inner) = user
            .account
            .clone()
            .map(|account| (account, user.access_token.clone()));
    }
}

/// Mastodon.py's "Mismatch in base URLs between files and/or specified" check.
fn agree(
    found: &InstanceUrl,
    expected: Option<&InstanceUrl>,
    path: &Path,
) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != found => Err(StoreError::BaseUrlMismatch {
            path: Some(path.to_owned()),
            found: found.to_string(),
            expected: expected.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Replaces `path` with `contents` under its lock, unless the current file cannot be parsed
/// (then it is left alone and the parse error returned).
fn replace_checked(
    path: &Path,
    contents: &str,
    lock_wait: &LockWait,
    parse: fn(&str, &Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let _lock = atomic::lock(path, lock_wait)?;
    replace_locked(path, contents, parse)
}

/// [`replace_checked`] for a caller that holds the lock already.
fn replace_locked(
    path: &Path,
    contents: &str,
    parse: fn(&str, &Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if let Some(text) = atomic::read_bounded(path)? {
        parse(&text, path)?;
    }
    atomic::write_atomic(path, contents.as_bytes())
}

fn parse_user(text: &str, path: &Path) -> Result<(), StoreError> {
    parse_user_file(text, path).map(drop)
}

#[async_trait::async_trait]
impl CredentialStore for MastodonPyFiles {
    async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        let this = self.clone();
        let instance = instance.clone();
        atomic::blocking(self.any_path(), move || this.load_app_sync(&instance)).await
    }

    async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
        let Some(path) = self.client_path.clone() else {
            return Err(StoreError::Unsupported {
                operation: StoreOperation::SaveApp,
                reason: "this MastodonPyFiles store was made without a client file",
            });
        };
        self.check_instance(&app.instance, &path)?;
        let mut file = ClientFile::new(app.client.clone()).with_base_url(app.instance.clone());
        // Mastodon.py always writes the name line (its client_name is required).
        file.name = Some(app.name.clone().unwrap_or_default());
        let contents = render_client_file(&file, &path)?;
        let lock_wait = self.lock_wait.clone();
        atomic::blocking(&path.clone(), move || {
            replace_checked(&path, &contents, &lock_wait, |t, p| {
                parse_client_file(t, p).map(drop)
            })
        })
        .await
    }

    async fn load_user(
        &self,
        _account: &AccountKey,
    ) -> Result<Option<UserCredentials>, StoreError> {
        // One user, whatever its name (see the trait's documentation).
        self.load_active_user().await
    }

    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
        let this = self.clone();
        atomic::blocking(self.any_path(), move || this.load_user_sync()).await
    }

    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
        let path = self.user_file(StoreOperation::SaveUser)?;
        let contents = self.user_file_contents(user, &path)?;
        let lock_wait = self.lock_wait.clone();
        atomic::blocking(&path.clone(), move || {
            replace_checked(&path, &contents, &lock_wait, parse_user)
        })
        .await?;
        self.remember(user);
        Ok(())
    }

    async fn lease_user(
        &self,
        account: &AccountKey,
    ) -> Result<Box<dyn UserLease + '_>, StoreError> {
        let path = self.user_file(StoreOperation::LeaseUser)?;
        // The user file's lock is the lease, held by the lease across the client's request
        // and released when it drops.
        let lock = {
            let (path, lock_wait) = (path.clone(), self.lock_wait.clone());
            atomic::blocking(&path.clone(), move || atomic::lock(&path, &lock_wait)).await?
        };
        // One user, whatever its name (see the trait's documentation).
        let current = self.load_active_user().await?;
        Ok(Box::new(UserFileLease {
            lock,
            store: self,
            path,
            account: account.clone(),
            current,
        }))
    }
}

/// A [`MastodonPyFiles`] user's lease: the user file's lock.
struct UserFileLease<'a> {
    lock: FileLock,
    store: &'a MastodonPyFiles,
    path: PathBuf,
    account: AccountKey,
    current: Option<UserCredentials>,
}

#[async_trait::async_trait]
impl UserLease for UserFileLease<'_> {
    fn current(&self) -> Option<&UserCredentials> {
        self.current.as_ref()
    }

    async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError> {
        let UserFileLease {
            lock,
            store,
            path,
            account,
            ..
        } = *self;
        let mut user = user.clone();
        user.account = Some(account);
        let contents = store.user_file_contents(&user, &path)?;
        atomic::blocking(&path.clone(), move || {
            // Released once the file is replaced.
            let _lock = lock;
            replace_locked(&path, &contents, parse_user)
        })
        .await?;
        store.remember(&user);
        Ok(())
    }
}
