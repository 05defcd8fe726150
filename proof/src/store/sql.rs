//! The statements behind each store call, on a connection the caller holds.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mastodon_auth::{
    AccessToken, AccountKey, AppCredentials, ClientCredentials, ClientSecret, InstanceUrl,
    RefreshToken, UserCredentials,
};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

pub(crate) fn load_app(
    conn: &Connection,
    instance: &InstanceUrl,
) -> rusqlite::Result<Option<AppCredentials>> {
    let Some(mut app) = conn
        .query_row(
            "SELECT instance, client_id, client_secret, name, scopes FROM apps WHERE instance = ?1",
            [instance.as_str()],
            |row| {
                let mut app = AppCredentials::new(
                    parsed(row, 0)?,
                    ClientCredentials::new(row.get::<_, String>(1)?, row.get::<_, String>(2)?),
                );
                app.name = row.get(3)?;
                app.scopes = parsed_opt(row, 4)?;
                Ok(app)
            },
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut uris =
        conn.prepare("SELECT uri FROM app_redirect_uris WHERE instance = ?1 ORDER BY position")?;
    app.redirect_uris = uris
        .query_map([instance.as_str()], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(app))
}

/// Replaces the instance's app, redirect URIs included, in one transaction.
pub(crate) fn save_app(conn: &mut Connection, app: &AppCredentials) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let instance = app.instance.as_str();
    tx.execute(
        "INSERT INTO apps (instance, client_id, client_secret, name, scopes)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (instance) DO UPDATE SET client_id = excluded.client_id,
             client_secret = excluded.client_secret, name = excluded.name,
             scopes = excluded.scopes",
        params![
            instance,
            app.client.id.as_str(),
            app.client.secret.expose(),
            app.name,
            app.scopes.as_ref().map(ToString::to_string),
        ],
    )?;
    tx.execute(
        "DELETE FROM app_redirect_uris WHERE instance = ?1",
        [instance],
    )?;
    for (position, uri) in (0_i64..).zip(&app.redirect_uris) {
        tx.execute(
            "INSERT INTO app_redirect_uris (instance, position, uri) VALUES (?1, ?2, ?3)",
            params![instance, position, uri],
        )?;
    }
    tx.commit()
}

const USER_COLUMNS: &str = "users.account, users.instance, users.access_token, \
    users.refresh_token, users.expires_at, users.scopes, users.client_id, users.client_secret";

fn user_from(row: &Row<'_>) -> rusqlite::Result<UserCredentials> {
    let mut user =
        UserCredentials::new(parsed(row, 1)?, AccessToken::new(row.get::<_, String>(2)?))
            .with_account(parsed(row, 0)?);
    user.refresh_token = row.get::<_, Option<String>>(3)?.map(RefreshToken::new);
    user.expires_at = row.get::<_, Option<i64>>(4)?.and_then(from_epoch);
    user.scopes = parsed_opt(row, 5)?;
    // Both columns or neither: half a client is a row this store did not write.
    user.client = ClientCredentials::from_halves(
        row.get::<_, Option<String>>(6)?.map(Into::into),
        row.get::<_, Option<String>>(7)?.map(ClientSecret::new),
    )
    .map_err(|half| rusqlite::Error::FromSqlConversionFailure(6, Type::Text, Box::new(half)))?;
    Ok(user)
}

pub(crate) fn load_user(
    conn: &Connection,
    account: &AccountKey,
) -> rusqlite::Result<Option<UserCredentials>> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE account = ?1"),
        [account.as_str()],
        user_from,
    )
    .optional()
}

pub(crate) fn load_active_user(conn: &Connection) -> rusqlite::Result<Option<UserCredentials>> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM active JOIN users USING (account)"),
        [],
        user_from,
    )
    .optional()
}

/// Replaces `account`'s credentials and makes it the active account, in one transaction.
///
/// An upsert, not `INSERT OR REPLACE`: replacing deletes the old row first, and the delete
/// would cascade to the active account.
pub(crate) fn save_user(
    conn: &mut Connection,
    account: &AccountKey,
    user: &UserCredentials,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO users (account, instance, access_token, refresh_token, expires_at, scopes,
             client_id, client_secret)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (account) DO UPDATE SET instance = excluded.instance,
             access_token = excluded.access_token, refresh_token = excluded.refresh_token,
             expires_at = excluded.expires_at, scopes = excluded.scopes,
             client_id = excluded.client_id, client_secret = excluded.client_secret",
        params![
            account.as_str(),
            user.instance.as_str(),
            user.access_token.expose(),
            user.refresh_token.as_ref().map(RefreshToken::expose),
            user.expires_at.map(to_epoch),
            user.scopes.as_ref().map(ToString::to_string),
            user.client.as_ref().map(|c| c.id.as_str()),
            user.client.as_ref().map(|c| c.secret.expose()),
        ],
    )?;
    activate(&tx, account)?;
    tx.commit()
}

fn activate(conn: &Connection, account: &AccountKey) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO active (only, account) VALUES (1, ?1)
         ON CONFLICT (only) DO UPDATE SET account = excluded.account",
        [account.as_str()],
    )
    .map(drop)
}

pub(crate) fn list_users(conn: &Connection) -> rusqlite::Result<Vec<AccountKey>> {
    let mut stmt = conn.prepare("SELECT account FROM users ORDER BY account")?;
    stmt.query_map([], |row| parsed(row, 0))?.collect()
}

pub(crate) fn active_user(conn: &Connection) -> rusqlite::Result<Option<AccountKey>> {
    conn.query_row("SELECT account FROM active", [], |row| parsed(row, 0))
        .optional()
}

/// Makes `account` active; `false` (and nothing changed) when there is no such account.
pub(crate) fn set_active_user(
    conn: &mut Connection,
    account: &AccountKey,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let known = tx
        .query_row(
            "SELECT 1 FROM users WHERE account = ?1",
            [account.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if known {
        activate(&tx, account)?;
    }
    tx.commit()?;
    Ok(known)
}

/// Forgets `account` (the foreign key clears it as the active account); `false` when it was
/// not there.
pub(crate) fn remove_user(conn: &Connection, account: &AccountKey) -> rusqlite::Result<bool> {
    let removed = conn.execute("DELETE FROM users WHERE account = ?1", [account.as_str()])?;
    Ok(removed > 0)
}

/// A text column parsed into `T`; a value that does not parse is a conversion error naming
/// the column, like any value of the wrong type.
fn parsed<T>(row: &Row<'_>, column: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(column)?;
    text.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(e)))
}

fn parsed_opt<T>(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match row.get_ref(column)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => parsed(row, column).map(Some),
    }
}

/// Whole seconds since 1970 (negative before), the precision credential files keep too.
fn to_epoch(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn from_epoch(secs: i64) -> Option<SystemTime> {
    let offset = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}
