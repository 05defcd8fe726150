//! [`SqliteStore`]: credentials in a SQLite database.

mod schema;
mod sql;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use mastodon_auth::{
    AccountDirectory, AccountKey, AppCredentials, CredentialStore, InstanceUrl, StoreError,
    UserCredentials, UserLease, async_trait,
};
use rusqlite::Connection;

pub use schema::{SCHEMA_VERSION, UnknownSchema};

/// The name this store's errors carry in [`StoreError::Backend`].
pub const BACKEND: &str = "sqlite";

/// Keeps apps per instance, users per account and the active account in a SQLite database
/// (one file), creating the tables when it opens a new one.
///
/// Every call runs on Tokio's blocking threads ([`tokio::task::spawn_blocking`]), so the
/// database never stalls the async runtime; each change is one transaction. Clones share one
/// connection. Several processes can share the file: SQLite locks it, and a call waits up to
/// 5 s for another process's write.
///
/// [`lease_user`](CredentialStore::lease_user) (the client's token refresh) takes a lock that
/// the store's clones share, so the clients of one process refresh a token once between them.
/// It does not reach other processes: SQLite's own lock on the file would stop every other
/// writer for as long as the refresh request takes. For expiring tokens shared by several
/// processes, prefer a store whose lease spans them (`AccountsFile`, `PostgresStore`).
///
/// Failures of the database itself (a file that is not a database, a full disk, a locked
/// file, a value that cannot be read back) are [`StoreError::Backend`] named
/// [`BACKEND`], with the [`rusqlite::Error`] as their source, or an [`UnknownSchema`] for a
/// database a newer version wrote. A user without an account name is
/// [`StoreError::AccountRequired`]: this store keeps users by account.
///
/// ```
/// use mastodon_auth::{AccessToken, AccountDirectory, CredentialStore, UserCredentials};
/// use mastodon_auth_proof::SqliteStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqliteStore::open_in_memory().await?;
/// let alice = "alice@example.com".parse()?;
/// let user = UserCredentials::new("https://example.com".parse()?, AccessToken::new("t"))
///     .with_account(alice);
/// store.save_user(&user).await?;
/// assert_eq!(store.active_user().await?, user.account);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
    /// The lease of [`lease_user`](CredentialStore::lease_user), one for every account.
    lease: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and its tables. A new file is created
    /// readable and writable by its owner only (`0600` on Unix): it holds tokens and client
    /// secrets. An existing file keeps its permissions.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be created or opened, or is not a SQLite
    /// database of this store's schema.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let opened = path.clone();
        let connect = move || {
            create_private(&opened).map_err(|e| StoreError::backend(BACKEND, e))?;
            Connection::open(opened).map_err(sqlite)
        };
        Self::start(connect, Some(path)).await
    }

    /// A database in memory, gone with the last clone: for tests.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when SQLite cannot allocate it.
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        Self::start(|| Connection::open_in_memory().map_err(sqlite), None).await
    }

    async fn start<F>(connect: F, path: Option<PathBuf>) -> Result<Self, StoreError>
    where
        F: FnOnce() -> Result<Connection, StoreError> + Send + 'static,
    {
        let conn = blocking(move || {
            let mut conn = connect()?;
            schema::prepare(&mut conn).map_err(|e| match e {
                schema::OpenError::Sqlite(e) => sqlite(e),
                schema::OpenError::Unknown(e) => StoreError::backend(BACKEND, e),
            })?;
            Ok(conn)
        })
        .await?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            lease: Arc::default(),
        })
    }

    /// The database file; `None` for a database in memory.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` on the connection on a blocking thread.
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        blocking(move || {
            // A panic while the lock was held cannot leave the database half-changed: the
            // transaction it was in rolled back when it was dropped.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn).map_err(sqlite)
        })
        .await
    }
}

fn sqlite(e: rusqlite::Error) -> StoreError {
    StoreError::backend(BACKEND, e)
}

/// Creates `path` empty (which SQLite takes for a new database) with owner-only permissions,
/// unless something is there already: SQLite would create it with the process's umask, and
/// gives the journal it writes next to the file the file's own permissions.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Runs `f` where blocking is allowed; a panic in it is a backend failure, not a panic of
/// the caller.
async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::backend(BACKEND, e))?
}

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        let instance = instance.clone();
        self.with(move |conn| sql::load_app(conn, &instance)).await
    }

    async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
        let app = app.clone();
        self.with(move |conn| sql::save_app(conn, &app)).await
    }

    async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError> {
        let account = account.clone();
        self.with(move |conn| sql::load_user(conn, &account)).await
    }

    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
        self.with(|conn| sql::load_active_user(conn)).await
    }

    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
        let account = user.account.clone().ok_or(StoreError::AccountRequired)?;
        let user = user.clone();
        self.with(move |conn| sql::save_user(conn, &account, &user))
            .await
    }

    async fn lease_user(
        &self,
        account: &AccountKey,
    ) -> Result<Box<dyn UserLease + '_>, StoreError> {
        let guard = Arc::clone(&self.lease).lock_owned().await;
        let current = self.load_user(account).await?;
        Ok(Box::new(SqliteLease {
            _guard: guard,
            store: self,
            account: account.clone(),
            current,
        }))
    }
}

/// A [`SqliteStore`] account's lease: the store's lock, released on drop.
struct SqliteLease<'a> {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    store: &'a SqliteStore,
    account: AccountKey,
    current: Option<UserCredentials>,
}

#[async_trait]
impl UserLease for SqliteLease<'_> {
    fn current(&self) -> Option<&UserCredentials> {
        self.current.as_ref()
    }

    async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError> {
        let mut user = user.clone();
        user.account = Some(self.account.clone());
        // Saved as `save_user` saves, which makes the account active: the trait allows it.
        self.store.save_user(&user).await
    }
}

#[async_trait]
impl AccountDirectory for SqliteStore {
    async fn list_users(&self) -> Result<Vec<AccountKey>, StoreError> {
        self.with(|conn| sql::list_users(conn)).await
    }

    async fn active_user(&self) -> Result<Option<AccountKey>, StoreError> {
        self.with(|conn| sql::active_user(conn)).await
    }

    async fn set_active_user(&self, account: &AccountKey) -> Result<(), StoreError> {
        let key = account.clone();
        let known = self
            .with(move |conn| sql::set_active_user(conn, &key))
            .await?;
        if known {
            Ok(())
        } else {
            Err(StoreError::UnknownAccount(account.clone()))
        }
    }

    async fn remove_user(&self, account: &AccountKey) -> Result<bool, StoreError> {
        let account = account.clone();
        self.with(move |conn| sql::remove_user(conn, &account))
            .await
    }
}
