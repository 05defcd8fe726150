//! What a database failure says, without what it must not.

use std::fmt;

use mastodon_auth_core::StoreError;

/// The name `StoreError::Backend` gives this backend.
pub(super) const BACKEND: &str = "postgres";

/// A [`PostgresStore`](super::PostgresStore) configuration that cannot work, as the `source`
/// of [`StoreError::InvalidConfig`]: found by
/// [`add_root_pem`](super::PostgresStoreBuilder::add_root_pem) or before
/// [`connect`](super::PostgresStoreBuilder::connect) reaches the database.
///
/// ```
/// use mastodon_auth_core::StoreError;
/// use mastodon_auth_store::{PostgresConfigError, PostgresStore};
/// let err = PostgresStore::builder("postgres://db.example/app")
///     .add_root_pem(b"not a certificate")
///     .unwrap_err();
/// let StoreError::InvalidConfig { source, .. } = &err else { panic!("{err:?}") };
/// assert!(matches!(
///     source.downcast_ref::<PostgresConfigError>(),
///     Some(PostgresConfigError::NoCaCertificate)
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostgresConfigError {
    /// The connection string does not parse (PostgreSQL's client library says why; it does
    /// not quote the password).
    ConnectionString(String),
    /// The CA PEM cannot be read (why).
    CaPem(String),
    /// A CA certificate in the PEM cannot be used (why).
    CaCertificate(String),
    /// The CA PEM holds no certificate.
    NoCaCertificate,
}

impl fmt::Display for PostgresConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConnectionString(why) => write!(f, "invalid PostgreSQL connection string: {why}"),
            Self::CaPem(why) => write!(f, "the database CA PEM cannot be read: {why}"),
            Self::CaCertificate(why) => {
                write!(f, "the database CA certificate is not usable: {why}")
            }
            Self::NoCaCertificate => f.write_str("the database CA PEM holds no certificate"),
        }
    }
}

impl std::error::Error for PostgresConfigError {}

impl From<PostgresConfigError> for StoreError {
    fn from(e: PostgresConfigError) -> Self {
        StoreError::invalid_config(BACKEND, e)
    }
}

/// A PostgreSQL failure, as the `source` of [`StoreError::Backend`]: what the store was doing
/// and what went wrong.
///
/// PostgreSQL's `DETAIL` lines are left out on purpose: for a violated constraint they quote
/// the failing row, which holds tokens and client secrets. The SQLSTATE code stays, for
/// programs that react to particular errors.
///
/// ```
/// # async fn demo(store: &mastodon_auth_store::PostgresStore) {
/// use mastodon_auth_core::{AccountDirectory, StoreError};
/// use mastodon_auth_store::PostgresError;
/// if let Err(StoreError::Backend { source, .. }) = store.list_users().await {
///     if let Some(pg) = source.downcast_ref::<PostgresError>() {
///         eprintln!("{} (SQLSTATE {:?}, connection lost: {})", pg, pg.code(), pg.is_connection());
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresError {
    action: &'static str,
    code: Option<String>,
    message: String,
    connection: bool,
}

impl PostgresError {
    /// The SQLSTATE code, for errors the server reported (`40P01` for a deadlock, …).
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// `true` when the database could not be reached or the connection broke: the operation
    /// may succeed once it is back.
    #[must_use]
    pub fn is_connection(&self) -> bool {
        self.connection
    }

    pub(super) fn query(action: &'static str, e: &tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => Self {
                action,
                code: Some(db.code().code().to_owned()),
                message: format!("{}: {}", db.severity(), db.message()),
                // The server going away mid-session: admin shutdown, crash shutdown, …
                connection: db.code().code().starts_with("57P")
                    || db.code().code().starts_with("08"),
            },
            None => Self {
                action,
                code: None,
                message: e.to_string(),
                connection: true,
            },
        }
    }

    pub(super) fn pool(action: &'static str, e: &deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Self::query(action, e),
            other => Self {
                action,
                code: None,
                message: other.to_string(),
                connection: true,
            },
        }
    }

    pub(super) fn corrupt(action: &'static str, message: String) -> Self {
        Self {
            action,
            code: None,
            message,
            connection: false,
        }
    }
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not {}: {}", self.action, self.message)
    }
}

impl std::error::Error for PostgresError {}

impl From<PostgresError> for StoreError {
    fn from(e: PostgresError) -> Self {
        StoreError::backend(BACKEND, e)
    }
}
