//! `SqliteStore`: the credential store contract, what survives a reopen, and the database's
//! failures as `StoreError::Backend`.

use std::sync::atomic::{AtomicUsize, Ordering};

use mastodon_auth::{AccessToken, AccountDirectory, CredentialStore, StoreError, UserCredentials};
use mastodon_auth_proof::{SCHEMA_VERSION, SqliteStore, UnknownSchema};
use mastodon_auth_tests::store_contract;

fn alice() -> UserCredentials {
    UserCredentials::new(
        "https://social.example".parse().unwrap(),
        AccessToken::new("token-a"),
    )
    .with_account("alice@social.example".parse().unwrap())
}

/// The source of a [`StoreError::Backend`] named `sqlite`.
fn backend_source(err: &StoreError) -> &(dyn std::error::Error + Send + Sync + 'static) {
    match err {
        StoreError::Backend {
            backend: "sqlite",
            source,
        } => source.as_ref(),
        other => panic!("expected a sqlite backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_file_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    store_contract::check(|| {
        let path = dir.path().join(format!(
            "db-{}.sqlite3",
            files.fetch_add(1, Ordering::Relaxed)
        ));
        async move { SqliteStore::open(path).await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn a_database_in_memory_keeps_the_contract() {
    store_contract::check(|| async { SqliteStore::open_in_memory().await.unwrap() }).await;
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    SqliteStore::open(&path)
        .await
        .unwrap()
        .save_user(&alice())
        .await
        .unwrap();
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.load_active_user().await.unwrap(), Some(alice()));
    assert_eq!(reopened.path(), Some(path.as_path()));
}

#[tokio::test]
async fn a_database_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    drop(SqliteStore::open(&path).await.unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = SqliteStore::open(&path).await.expect_err("newer schema");
    let unknown = backend_source(&err)
        .downcast_ref::<UnknownSchema>()
        .unwrap_or_else(|| panic!("not UnknownSchema: {err:?}"));
    assert_eq!(unknown.found, SCHEMA_VERSION + 1);
}

#[tokio::test]
async fn a_value_that_does_not_parse_is_a_conversion_error_naming_nothing_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let store = SqliteStore::open(&path).await.unwrap();
    store.save_user(&alice()).await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE users SET instance = 'not a url at all'", [])
        .unwrap();
    let err = store.load_active_user().await.expect_err("bad instance");
    assert!(
        matches!(
            backend_source(&err).downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::FromSqlConversionFailure(1, _, _))
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("token-a"), "{err}");
}

/// The database holds access tokens and client secrets: only its owner may read it, whatever
/// the process's umask.
#[cfg(unix)]
#[tokio::test]
async fn a_new_database_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let store = SqliteStore::open(&path).await.unwrap();
    store.save_user(&alice()).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

#[tokio::test]
async fn a_folder_in_place_of_the_file_is_a_backend_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(dir.path()).await.expect_err("a folder");
    let source = backend_source(&err);
    assert_eq!(
        source
            .downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code),
        Some(rusqlite::ErrorCode::CannotOpen),
        "{source}"
    );
}

#[tokio::test]
async fn two_stores_on_one_file_see_each_others_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let one = SqliteStore::open(&path).await.unwrap();
    let two = SqliteStore::open(&path).await.unwrap();
    one.save_user(&alice()).await.unwrap();
    assert_eq!(
        two.active_user().await.unwrap(),
        Some("alice@social.example".parse().unwrap())
    );
    assert!(
        two.remove_user(&"alice@social.example".parse().unwrap())
            .await
            .unwrap()
    );
    assert_eq!(one.list_users().await.unwrap(), Vec::new());
}
