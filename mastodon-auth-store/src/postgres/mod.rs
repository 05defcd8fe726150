//! [`PostgresStore`]: credentials in PostgreSQL, one truth for every process of a fleet.

mod error;
mod migrations;
mod tls;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use mastodon_auth_core::{
    AccessToken, AccountDirectory, AccountKey, AppCredentials, ClientCredentials, ClientSecret,
    CredentialStore, InstanceUrl, RefreshToken, Scopes, StoreError, UserCredentials, UserLease,
};
use tokio_postgres::Row;

pub use self::error::{PostgresConfigError, PostgresError};
pub use self::migrations::SCHEMA_VERSION;

/// The profile a store uses unless told otherwise.
pub const DEFAULT_PROFILE: &str = "default";

/// Settings for a [`PostgresStore`]; see [`PostgresStore::builder`].
#[must_use]
pub struct PostgresStoreBuilder {
    url: String,
    profile: String,
    pool_size: usize,
    connect_timeout: Duration,
    roots: rustls::RootCertStore,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("PostgresStoreBuilder")
            .field("profile", &self.profile)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStoreBuilder {
    /// Whose active account this store reads and sets (default [`DEFAULT_PROFILE`]). Accounts
    /// and apps are shared by every profile; each profile has its own active account, so
    /// several services can share one database.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = profile.into();
        self
    }

    /// How many connections the store keeps at most (default 16).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long connecting to the database may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Also trusts the CA certificates in `pem` for the database's TLS certificate (by
    /// default only the public web PKI's roots are trusted).
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] (with a [`PostgresConfigError`]) when `pem` holds no
    /// usable certificate.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, StoreError> {
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            let cert = cert.map_err(|e| PostgresConfigError::CaPem(e.to_string()))?;
            self.roots
                .add(cert)
                .map_err(|e| PostgresConfigError::CaCertificate(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(PostgresConfigError::NoCaCertificate.into());
        }
        Ok(self)
    }

    /// Uses this rustls configuration for TLS to the database, instead of the roots above
    /// (for client certificates, say).
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Connects, and creates or upgrades the schema (see [`SCHEMA_VERSION`]).
    ///
    /// # Errors
    /// [`StoreError::InvalidConfig`] (with a [`PostgresConfigError`]) for a connection
    /// string that cannot be parsed;
    /// [`StoreError::Backend`] when the database cannot be reached or migrated.
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        let mut config: tokio_postgres::Config =
            self.url.parse().map_err(|e: tokio_postgres::Error| {
                PostgresConfigError::ConnectionString(e.to_string())
            })?;
        config.connect_timeout(self.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("mastodon-auth");
        }
        let target = describe(&config);
        let tls = self.tls.unwrap_or_else(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            Arc::new(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap_or_else(|_| unreachable!("ring supports the default TLS versions"))
                    .with_root_certificates(self.roots)
                    .with_no_client_auth(),
            )
        });
        let manager = Manager::from_config(
            config,
            tls::MakeRustls(tls),
            ManagerConfig {
                // A connection that died with the server is noticed here and replaced.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(self.connect_timeout))
            .wait_timeout(Some(self.connect_timeout.saturating_mul(2)))
            .build()
            .map_err(|e| StoreError::backend(error::BACKEND, e))?;
        let store = PostgresStore {
            pool,
            profile: self.profile,
            target,
        };
        let mut client = store.client("connect").await?;
        migrations::migrate(&mut client).await?;
        Ok(store)
    }
}

/// `host:port/dbname` of a configuration, for `Debug` (never the password).
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map_or_else(String::new, |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        });
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

/// Credentials in PostgreSQL: apps per instance, users per account, and an active account per
/// *profile*, shared by every process that connects to the same database.
///
/// - The store creates its tables on first connection and upgrades them when a newer version
///   of this library needs it (embedded SQL migrations recorded in
///   `mastodon_auth_schema_version`, applied under an advisory lock, so processes that start
///   together migrate once). A database from a newer library is refused, not touched.
/// - Every write is one transaction: a user saved and made active together, or neither.
/// - [`lease_user`](CredentialStore::lease_user) (the client's token refresh) opens a
///   transaction holding an advisory lock on the account, so the processes sharing the
///   database refresh an account once between them. The lock goes with the transaction: at
///   commit (saving through the lease, which leaves the active account alone), at rollback
///   (dropping the lease), and when the connection or the database dies.
/// - A database that is down gives [`StoreError::Backend`] with a [`PostgresError`]; the pool
///   replaces broken connections, so operations succeed again as soon as it is back.
/// - Secrets are stored as they are (protect the database as you would the credential
///   files), and never appear in logs, `Debug` or errors: PostgreSQL's error details, which
///   can quote a row, are dropped.
/// - TLS to the database goes through rustls, as the connection string's `sslmode` asks
///   (`disable`, `prefer` — the default — or `require`); the certificate is always verified,
///   against the web PKI's roots or those given to [`add_root_pem`](PostgresStoreBuilder::add_root_pem).
///
/// Tables are created in the connection's current schema; to keep them elsewhere, set the
/// search path in the connection string (`options=-csearch_path%3Dauth`).
///
/// ```no_run
/// use mastodon_auth_core::Mastodon;
/// use mastodon_auth_store::PostgresStore;
/// # async fn run(transport: impl mastodon_auth_core::HttpTransport + 'static) -> Result<(), mastodon_auth_core::Error> {
/// let store = PostgresStore::builder("postgres://bots@db.internal/bots?sslmode=require")
///     .profile("cross-poster")
///     .connect()
///     .await?;
/// let client = Mastodon::builder("https://mastodon.example")
///     .transport(transport) // e.g. mastodon_auth_http::HyperTransport
///     .store(store)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
pub struct PostgresStore {
    pool: Pool,
    profile: String,
    target: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.target)
            .field("profile", &self.profile)
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PostgresStore {
    /// Settings for a store on the database at `url` (`postgres://user:password@host:port/db`
    /// or `host=… user=… dbname=…`).
    pub fn builder(url: impl Into<String>) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            url: url.into(),
            profile: DEFAULT_PROFILE.to_owned(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            roots: rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            tls: None,
        }
    }

    /// [`builder`](Self::builder)`(url).connect()`: the default profile and settings.
    ///
    /// # Errors
    /// As [`PostgresStoreBuilder::connect`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// The profile whose active account this store reads and sets.
    #[must_use]
    pub fn profile(&self) -> &str {
        &self.profile
    }

    async fn client(&self, action: &'static str) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self
            .pool
            .get()
            .await
            .map_err(|e| PostgresError::pool(action, &e))?)
    }

    /// Runs one read or one single-statement write on a pooled connection.
    async fn query(
        &self,
        action: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client(action).await?;
        let err = |e: tokio_postgres::Error| PostgresError::query(action, &e);
        let statement = client.prepare_cached(sql).await.map_err(err)?;
        Ok(client.query(&statement, params).await.map_err(err)?)
    }
}

/// The first key of the account leases' advisory locks (`pg_advisory_xact_lock(int, int)`,
/// the second key being the account's `hashtext`): "mast" in ASCII. The two-key locks are
/// apart from the one-key lock of the migrations.
const USER_LEASE: i32 = 0x6d61_7374;

const APP_COLUMNS: &str = "instance, client_id, client_secret, name, scopes, redirect_uris";
const USER_COLUMNS: &str = "account, instance, access_token, refresh_token, expires_at, scopes, \
                            client_id, client_secret";

/// A stored value that does not parse: the row is named, its content never quoted.
fn corrupt(table: &str, key: &str, column: &str, why: impl fmt::Display) -> StoreError {
    PostgresError::corrupt(
        "read the credential store",
        format!("{table} row {key:?}: {column} is not valid: {why}"),
    )
    .into()
}

fn scopes(table: &str, key: &str, text: Option<String>) -> Result<Option<Scopes>, StoreError> {
    text.map(|s| s.parse::<Scopes>())
        .transpose()
        .map_err(|e| corrupt(table, key, "scopes", e))
}

/// The account named by the first column of a row of `table`.
fn account_from_row(table: &str, row: &Row) -> Result<AccountKey, StoreError> {
    let key: String = row.get(0);
    AccountKey::parse(&key).map_err(|e| corrupt(table, &key, "account", e))
}

fn app_from_row(row: &Row) -> Result<AppCredentials, StoreError> {
    let key: String = row.get(0);
    let instance =
        InstanceUrl::parse(&key).map_err(|e| corrupt("mastodon_auth_apps", &key, "instance", e))?;
    let mut app = AppCredentials::new(
        instance,
        ClientCredentials::new(row.get::<_, String>(1), row.get::<_, String>(2)),
    );
    app.name = row.get(3);
    app.scopes = scopes("mastodon_auth_apps", &key, row.get(4))?;
    app.redirect_uris = row.get(5);
    Ok(app)
}

fn user_from_row(row: &Row) -> Result<UserCredentials, StoreError> {
    let table = "mastodon_auth_users";
    let account = account_from_row(table, row)?;
    let key = account.as_str();
    let instance =
        InstanceUrl::parse(row.get(1)).map_err(|e| corrupt(table, key, "instance", e))?;
    let mut user = UserCredentials::new(instance, AccessToken::new(row.get::<_, String>(2)));
    user.refresh_token = row.get::<_, Option<String>>(3).map(RefreshToken::new);
    user.expires_at = row.get::<_, Option<SystemTime>>(4);
    user.scopes = scopes(table, key, row.get(5))?;
    user.client = ClientCredentials::from_halves(
        row.get::<_, Option<String>>(6).map(Into::into),
        row.get::<_, Option<String>>(7).map(ClientSecret::new),
    )
    .map_err(|half| corrupt(table, key, half.missing_field(), half))?;
    Ok(user.with_account(account))
}

#[async_trait::async_trait]
impl CredentialStore for PostgresStore {
    async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM mastodon_auth_apps WHERE instance = $1");
        let rows = self
            .query("load an app", &sql, &[&instance.as_str()])
            .await?;
        rows.first().map(app_from_row).transpose()
    }

    async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
        let scopes = app.scopes.as_ref().map(ToString::to_string);
        let sql = format!(
            "INSERT INTO mastodon_auth_apps ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (instance) DO UPDATE SET
                 client_id = excluded.client_id, client_secret = excluded.client_secret,
                 name = excluded.name, scopes = excluded.scopes,
                 redirect_uris = excluded.redirect_uris, updated_at = now()"
        );
        self.query(
            "save an app",
            &sql,
            &[
                &app.instance.as_str(),
                &app.client.id.as_str(),
                &app.client.secret.expose(),
                &app.name,
                &scopes,
                &app.redirect_uris,
            ],
        )
        .await?;
        Ok(())
    }

    async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM mastodon_auth_users WHERE account = $1");
        let rows = self
            .query("load a user", &sql, &[&account.as_str()])
            .await?;
        rows.first().map(user_from_row).transpose()
    }

    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM mastodon_auth_users
             WHERE account = (SELECT account FROM mastodon_auth_active WHERE profile = $1)"
        );
        let rows = self
            .query("load the active user", &sql, &[&self.profile])
            .await?;
        rows.first().map(user_from_row).transpose()
    }

    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
        let Some(account) = &user.account else {
            return Err(StoreError::AccountRequired);
        };
        let action = "save a user";
        let err = |e: tokio_postgres::Error| PostgresError::query(action, &e);
        let mut client = self.client(action).await?;
        let tx = client.transaction().await.map_err(err)?;
        upsert_user(&tx, action, account, user).await?;
        let activate = tx
            .prepare_cached(
                "INSERT INTO mastodon_auth_active (profile, account) VALUES ($1, $2)
                 ON CONFLICT (profile) DO UPDATE SET account = excluded.account",
            )
            .await
            .map_err(err)?;
        tx.execute(&activate, &[&self.profile, &account.as_str()])
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    async fn lease_user(
        &self,
        account: &AccountKey,
    ) -> Result<Box<dyn UserLease + '_>, StoreError> {
        let action = "lease a user";
        let err = |e: tokio_postgres::Error| StoreError::from(PostgresError::query(action, &e));
        // From here on, dropped unfinished (the future cancelled, an error) the transaction
        // rolls back and the lease goes with it.
        let tx = OpenTransaction::begin(self.client(action).await?)
            .await
            .map_err(err)?;
        let client = tx.client();
        let lease = client
            .prepare_cached(&format!(
                "SELECT pg_advisory_xact_lock({USER_LEASE}, hashtext($1))"
            ))
            .await
            .map_err(err)?;
        client
            .execute(&lease, &[&account.as_str()])
            .await
            .map_err(err)?;
        // Read under the lease: whatever another process's lease saved is seen here.
        let select = client
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM mastodon_auth_users WHERE account = $1"
            ))
            .await
            .map_err(err)?;
        let rows = client
            .query(&select, &[&account.as_str()])
            .await
            .map_err(err)?;
        let current = rows.first().map(user_from_row).transpose()?;
        Ok(Box::new(PostgresLease {
            tx,
            account: account.clone(),
            current,
        }))
    }
}

/// A [`PostgresStore`] account's lease: a transaction holding the account's advisory lock.
struct PostgresLease {
    tx: OpenTransaction,
    account: AccountKey,
    current: Option<UserCredentials>,
}

#[async_trait::async_trait]
impl UserLease for PostgresLease {
    fn current(&self) -> Option<&UserCredentials> {
        self.current.as_ref()
    }

    async fn save(self: Box<Self>, user: &UserCredentials) -> Result<(), StoreError> {
        let action = "save a leased user";
        upsert_user(self.tx.client(), action, &self.account, user).await?;
        self.tx
            .commit()
            .await
            .map_err(|e| PostgresError::query(action, &e).into())
    }
}

/// A pooled connection with a transaction open (`BEGIN` sent), rolled back unless it is
/// committed. A lease's transaction holds the account's advisory lock: the connection must
/// never go back to the pool with it open, or the lock would stay taken.
///
/// (`tokio_postgres::Transaction` rolls back on drop too, but it borrows its connection, so a
/// lease could not own both.)
struct OpenTransaction {
    /// `None` only once dropped.
    client: Option<deadpool_postgres::Object>,
    committed: bool,
}

impl OpenTransaction {
    async fn begin(client: deadpool_postgres::Object) -> Result<Self, tokio_postgres::Error> {
        // The guard first: a `BEGIN` cancelled half-way is rolled back as well.
        let tx = Self {
            client: Some(client),
            committed: false,
        };
        tx.client().batch_execute("BEGIN").await?;
        Ok(tx)
    }

    fn client(&self) -> &deadpool_postgres::Object {
        match &self.client {
            Some(client) => client,
            // Taken in `drop` alone, after which nothing can call this.
            None => unreachable!("an open transaction's connection is taken only when it drops"),
        }
    }

    async fn commit(mut self) -> Result<(), tokio_postgres::Error> {
        // Dropped while `COMMIT` is on its way, the guard still rolls back: after a commit
        // that went through, that `ROLLBACK` changes nothing.
        self.client().batch_execute("COMMIT").await?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if self.committed {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            // Back to the pool once rolled back: queued after whatever the connection is
            // doing (a lock still being waited for is taken, then released).
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        // A connection that cannot roll back is closed (the server then rolls
                        // back), never reused.
                        drop(deadpool_postgres::Object::take(client));
                    }
                });
            }
            // No runtime to roll back on: close the connection, which rolls back too.
            Err(_) => drop(deadpool_postgres::Object::take(client)),
        }
    }
}

/// Writes `user` as `account`'s row in `tx` (the active account is left alone).
async fn upsert_user(
    tx: &impl deadpool_postgres::GenericClient,
    action: &'static str,
    account: &AccountKey,
    user: &UserCredentials,
) -> Result<(), StoreError> {
    let err = |e: tokio_postgres::Error| PostgresError::query(action, &e);
    let scopes = user.scopes.as_ref().map(ToString::to_string);
    let upsert = tx
        .prepare_cached(&format!(
            "INSERT INTO mastodon_auth_users ({USER_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (account) DO UPDATE SET
                 instance = excluded.instance, access_token = excluded.access_token,
                 refresh_token = excluded.refresh_token, expires_at = excluded.expires_at,
                 scopes = excluded.scopes, client_id = excluded.client_id,
                 client_secret = excluded.client_secret, updated_at = now()"
        ))
        .await
        .map_err(err)?;
    tx.execute(
        &upsert,
        &[
            &account.as_str(),
            &user.instance.as_str(),
            &user.access_token.expose(),
            &user.refresh_token.as_ref().map(RefreshToken::expose),
            &user.expires_at,
            &scopes,
            &user.client.as_ref().map(|c| c.id.as_str()),
            &user.client.as_ref().map(|c| c.secret.expose()),
        ],
    )
    .await
    .map_err(err)?;
    Ok(())
}

#[async_trait::async_trait]
impl AccountDirectory for PostgresStore {
    async fn remove_user(&self, account: &AccountKey) -> Result<bool, StoreError> {
        // The active rows naming the account go with it (ON DELETE CASCADE).
        let rows = self
            .query(
                "remove a user",
                "DELETE FROM mastodon_auth_users WHERE account = $1 RETURNING account",
                &[&account.as_str()],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn list_users(&self) -> Result<Vec<AccountKey>, StoreError> {
        let rows = self
            .query(
                "list users",
                // Byte order, whatever the database's collation: the order AccountsFile keeps.
                r#"SELECT account FROM mastodon_auth_users ORDER BY account COLLATE "C""#,
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| account_from_row("mastodon_auth_users", row))
            .collect()
    }

    async fn active_user(&self) -> Result<Option<AccountKey>, StoreError> {
        let rows = self
            .query(
                "read the active user",
                "SELECT account FROM mastodon_auth_active WHERE profile = $1",
                &[&self.profile],
            )
            .await?;
        rows.first()
            .map(|row| account_from_row("mastodon_auth_active", row))
            .transpose()
    }

    async fn set_active_user(&self, account: &AccountKey) -> Result<(), StoreError> {
        let rows = self
            .query(
                "set the active user",
                "INSERT INTO mastodon_auth_active (profile, account)
                 SELECT $1, account FROM mastodon_auth_users WHERE account = $2
                 ON CONFLICT (profile) DO UPDATE SET account = excluded.account
                 RETURNING account",
                &[&self.profile, &account.as_str()],
            )
            .await?;
        if rows.is_empty() {
            return Err(StoreError::UnknownAccount(account.clone()));
        }
        Ok(())
    }
}
