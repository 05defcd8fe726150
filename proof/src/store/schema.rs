//! The tables, created when a database is opened, and the version that guards them.

use std::fmt;

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this crate writes (SQLite's `user_version`); a database with another
/// one (written by a newer version) is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 1;

/// Apps per instance (their redirect URIs in order beside them), users per account, and the
/// active account: one row at most. `STRICT` tables refuse a value of the wrong type instead
/// of keeping it.
const SCHEMA: &str = "
CREATE TABLE apps (
    instance      TEXT PRIMARY KEY NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    name          TEXT,
    scopes        TEXT
) STRICT;

CREATE TABLE app_redirect_uris (
    instance TEXT NOT NULL REFERENCES apps (instance) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    uri      TEXT NOT NULL,
    PRIMARY KEY (instance, position)
) STRICT;

CREATE TABLE users (
    account       TEXT PRIMARY KEY NOT NULL,
    instance      TEXT NOT NULL,
    access_token  TEXT NOT NULL,
    refresh_token TEXT,
    expires_at    INTEGER,
    scopes        TEXT,
    client_id     TEXT,
    client_secret TEXT
) STRICT;

CREATE TABLE active (
    only    INTEGER PRIMARY KEY NOT NULL CHECK (only = 1),
    account TEXT NOT NULL REFERENCES users (account) ON DELETE CASCADE
) STRICT;
";

/// A database of another schema version (written by a newer version of this store), with
/// tables this one may misread.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnknownSchema {
    /// The database's schema version.
    pub found: i64,
}

impl fmt::Display for UnknownSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the database has schema version {}; this version of the store reads version \
             {SCHEMA_VERSION} only",
            self.found
        )
    }
}

impl std::error::Error for UnknownSchema {}

/// Why a database could not be opened.
pub(crate) enum OpenError {
    Sqlite(rusqlite::Error),
    Unknown(UnknownSchema),
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// Prepares a connection: foreign keys on (SQLite leaves them off per connection), a wait for
/// other processes' locks, and the tables, created on first use under an exclusive
/// transaction so that two processes opening a new file at once do not both create them.
pub(crate) fn prepare(conn: &mut Connection) -> Result<(), OpenError> {
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        SCHEMA_VERSION => {}
        found => return Err(OpenError::Unknown(UnknownSchema { found })),
    }
    tx.commit()?;
    Ok(())
}
