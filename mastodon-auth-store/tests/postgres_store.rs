//! `PostgresStore` against a real PostgreSQL: the behaviours the file stores promise, profiles,
//! migrations under concurrent starters, atomic writes, no secret in errors, and the server
//! restarted mid-run.
//!
//! Skipped (with a note) where PostgreSQL is not installed, unless
//! `MASTODON_AUTH_REQUIRE_SERVICES=1`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use mastodon_auth_core::{
    AccessToken, AccountDirectory, AccountKey, AppCredentials, ClientSecret, CredentialStore,
    InstanceUrl, RefreshToken, Scopes, StoreError, UserCredentials,
};
use mastodon_auth_store::{PostgresError, PostgresStore, SCHEMA_VERSION};
use mastodon_auth_tests::PostgresServer;

fn url(s: &str) -> InstanceUrl {
    s.parse().unwrap()
}

fn key(s: &str) -> AccountKey {
    s.parse().unwrap()
}

fn user(account: &str, token: &str) -> UserCredentials {
    let account = key(account);
    UserCredentials::new(url(account.host()), AccessToken::new(token)).with_account(account)
}

async fn store(pg: &PostgresServer) -> PostgresStore {
    PostgresStore::connect(pg.url()).await.expect("connect")
}

/// A plain client, to look at the tables and to break them on purpose.
async fn sql(pg: &PostgresServer) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The PostgreSQL error behind a store error.
fn postgres_error(err: &StoreError) -> &PostgresError {
    match err {
        StoreError::Backend { backend, source } => {
            assert_eq!(*backend, "postgres");
            source
                .downcast_ref::<PostgresError>()
                .unwrap_or_else(|| panic!("not a PostgresError: {source}"))
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn everything_saved_comes_back() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let store = store(&pg).await;
    let mut app = AppCredentials::new(url("https://a.example"), "cid", ClientSecret::new("csec"))
        .with_name("My App");
    app.scopes = Some("read write".parse::<Scopes>().unwrap());
    app.redirect_uris = vec![
        "urn:ietf:wg:oauth:2.0:oob".into(),
        "http://127.0.0.1/cb".into(),
    ];
    let mut alice = user("alice@a.example", "t1").with_client("cid", ClientSecret::new("csec"));
    alice.refresh_token = Some(RefreshToken::new("r1"));
    alice.expires_at = Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000));
    alice.scopes = Some("read".parse::<Scopes>().unwrap());
    store.save_app(&app).await.unwrap();
    store.save_user(&alice).await.unwrap();

    // Another process (another pool) sees the same.
    let other = PostgresStore::connect(pg.url()).await.unwrap();
    assert_eq!(
        other.load_app(&app.instance).await.unwrap(),
        Some(app.clone())
    );
    assert_eq!(
        other.load_user(&key("alice@a.example")).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(other.load_active_user().await.unwrap(), Some(alice.clone()));
    assert_eq!(other.load_app(&url("b.example")).await.unwrap(), None);
    assert_eq!(other.load_user(&key("bob@b.example")).await.unwrap(), None);

    // Saving again replaces, fields that went away included.
    let plain = user("alice@a.example", "t2");
    store.save_user(&plain).await.unwrap();
    assert_eq!(
        other.load_user(&key("alice@a.example")).await.unwrap(),
        Some(plain)
    );
    let bare = AppCredentials::new(url("https://a.example"), "cid2", ClientSecret::new("s2"));
    store.save_app(&bare).await.unwrap();
    assert_eq!(other.load_app(&app.instance).await.unwrap(), Some(bare));
}

#[tokio::test]
async fn listing_switching_and_removing() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let store = store(&pg).await;
    assert!(store.list_users().await.unwrap().is_empty());
    assert_eq!(store.active_user().await.unwrap(), None);
    assert_eq!(store.load_active_user().await.unwrap(), None);
    for (account, token) in [
        ("bob@b.example", "tb"),
        ("alice@a.example", "ta"),
        ("Zed@a.example", "tz"),
    ] {
        store.save_user(&user(account, token)).await.unwrap();
    }
    // Byte order, as AccountsFile lists them ("Z" sorts before "a").
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![
            key("Zed@a.example"),
            key("alice@a.example"),
            key("bob@b.example")
        ]
    );
    assert_eq!(
        store.active_user().await.unwrap(),
        Some(key("Zed@a.example"))
    );

    store.set_active_user(&key("bob@b.example")).await.unwrap();
    let active = store.load_active_user().await.unwrap().unwrap();
    assert_eq!(active.access_token.expose(), "tb");
    match store.set_active_user(&key("carol@c.example")).await {
        Err(StoreError::UnknownAccount(k)) => assert_eq!(k, "carol@c.example"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.active_user().await.unwrap(),
        Some(key("bob@b.example"))
    );

    assert!(store.remove_user(&key("alice@a.example")).await.unwrap());
    assert_eq!(
        store.active_user().await.unwrap(),
        Some(key("bob@b.example"))
    );
    assert!(store.remove_user(&key("bob@b.example")).await.unwrap());
    assert_eq!(store.active_user().await.unwrap(), None);
    assert_eq!(store.load_active_user().await.unwrap(), None);
    assert!(!store.remove_user(&key("bob@b.example")).await.unwrap());
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![key("Zed@a.example")]
    );
}

#[tokio::test]
async fn saving_a_user_without_account_is_refused() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let store = store(&pg).await;
    let anon = UserCredentials::new(url("a.example"), AccessToken::new("t"));
    assert!(matches!(
        store.save_user(&anon).await,
        Err(StoreError::AccountRequired)
    ));
    assert!(store.list_users().await.unwrap().is_empty());
}

#[tokio::test]
async fn each_profile_has_its_own_active_account() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let poster = PostgresStore::builder(pg.url())
        .profile("cross-poster")
        .connect()
        .await
        .unwrap();
    let bot = PostgresStore::builder(pg.url())
        .profile("bot")
        .connect()
        .await
        .unwrap();
    assert_eq!(bot.profile(), "bot");
    poster
        .save_user(&user("alice@a.example", "ta"))
        .await
        .unwrap();
    bot.save_user(&user("bob@b.example", "tb")).await.unwrap();
    assert_eq!(
        poster.active_user().await.unwrap(),
        Some(key("alice@a.example"))
    );
    assert_eq!(bot.active_user().await.unwrap(), Some(key("bob@b.example")));
    // Accounts are shared: the bot may switch to alice without touching the poster.
    bot.set_active_user(&key("alice@a.example")).await.unwrap();
    assert_eq!(poster.list_users().await.unwrap().len(), 2);
    assert_eq!(
        poster.active_user().await.unwrap(),
        Some(key("alice@a.example"))
    );
    // Removing an account clears it from every profile.
    assert!(poster.remove_user(&key("alice@a.example")).await.unwrap());
    assert_eq!(bot.active_user().await.unwrap(), None);
    assert_eq!(poster.active_user().await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_starters_migrate_once() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let pg_url = pg.url();
    let starters: Vec<_> = (0..8)
        .map(|_| {
            let url = pg_url.clone();
            tokio::spawn(async move { PostgresStore::connect(url).await })
        })
        .collect();
    for starter in starters {
        starter.await.unwrap().expect("every starter connects");
    }
    let client = sql(&pg).await;
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM mastodon_auth_schema_version ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    // Once more: nothing to do, nothing lost.
    let again = store(&pg).await;
    again
        .save_user(&user("alice@a.example", "t"))
        .await
        .unwrap();
    drop(again);
    assert!(
        store(&pg)
            .await
            .load_user(&key("alice@a.example"))
            .await
            .unwrap()
            .is_some()
    );

    // A schema from a newer library is refused, not touched.
    client
        .execute(
            "INSERT INTO mastodon_auth_schema_version (version) VALUES (999)",
            &[],
        )
        .await
        .unwrap();
    let err = PostgresStore::connect(pg.url()).await.unwrap_err();
    assert!(postgres_error(&err).to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn a_failed_write_leaves_nothing_half_written_and_no_secret_in_the_error() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let store = store(&pg).await;
    store
        .save_user(&user("alice@a.example", "ta"))
        .await
        .unwrap();
    let client = sql(&pg).await;
    // The user row of "boom" can be written; making it active cannot: a save_user that
    // fails halfway.
    client
        .batch_execute(
            "ALTER TABLE mastodon_auth_active ADD CONSTRAINT no_boom CHECK (account <> 'boom@a.example');
             ALTER TABLE mastodon_auth_users ADD CONSTRAINT no_bang CHECK (account <> 'bang@a.example');",
        )
        .await
        .unwrap();
    let err = store
        .save_user(&user("boom@a.example", "SECRET-TOKEN-1"))
        .await
        .unwrap_err();
    assert_eq!(postgres_error(&err).code(), Some("23514"), "{err}");
    assert!(err.to_string().contains("no_boom"), "{err}");
    assert_eq!(store.load_user(&key("boom@a.example")).await.unwrap(), None);
    assert_eq!(
        store.active_user().await.unwrap(),
        Some(key("alice@a.example"))
    );

    // PostgreSQL's DETAIL for this one quotes the failing row, token included.
    let err = store
        .save_user(&user("bang@a.example", "SECRET-TOKEN-2"))
        .await
        .unwrap_err();
    // Nowhere in the error, its Debug, or the chain of sources a reporter would print.
    let mut shown = vec![format!("{err:?}")];
    let mut next: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = next {
        shown.push(e.to_string());
        next = e.source();
    }
    for text in shown {
        assert!(!text.contains("SECRET-TOKEN-2"), "{text}");
    }
    assert!(!format!("{store:?}").contains("postgres://"), "{store:?}");
}

#[tokio::test]
async fn a_row_that_does_not_parse_is_a_typed_error_naming_it() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let store = store(&pg).await;
    sql(&pg)
        .await
        .execute(
            "INSERT INTO mastodon_auth_users (account, instance, access_token)
             VALUES ('alice@a.example', 'not a url', 'SECRET')",
            &[],
        )
        .await
        .unwrap();
    let err = store.load_user(&key("alice@a.example")).await.unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("alice@a.example") && shown.contains("instance"),
        "{shown}"
    );
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(!postgres_error(&err).is_connection());
}

#[tokio::test]
async fn postgres_restarted_mid_run() {
    let Some(mut pg) = PostgresServer::start_or_skip() else {
        return;
    };
    let store = Arc::new(
        PostgresStore::builder(pg.url())
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap(),
    );
    // One writer saves u0, u1, … each with a token, a refresh token and a client secret that
    // carry its number, and keeps going whatever happens.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut saved, mut errors) = (Vec::new(), Vec::new());
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let mut u = user(&format!("u{i}@a.example"), &format!("token-{i}")).with_client(
                    format!("client-{i}"),
                    ClientSecret::new(format!("secret-{i}")),
                );
                u.refresh_token = Some(RefreshToken::new(format!("refresh-{i}")));
                match store.save_user(&u).await {
                    Ok(()) => saved.push(i),
                    Err(e) => {
                        errors.push(e);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                i += 1;
            }
            (saved, errors)
        })
    };
    let wait_for_saves = |n: usize| {
        let store = store.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while store.list_users().await.map_or(0, |l| l.len()) < n {
                assert!(Instant::now() < deadline, "fewer than {n} saves");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for_saves(20).await;
    pg.crash().unwrap();
    // While it is down, reads fail too, with the same typed error.
    let err = store.list_users().await.unwrap_err();
    assert!(postgres_error(&err).is_connection(), "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.restart().unwrap();
    let before = store.list_users().await.unwrap().len();
    wait_for_saves(before + 20).await;
    stop.store(true, Ordering::SeqCst);
    let (saved, errors) = writer.await.unwrap();

    assert!(!errors.is_empty(), "the writer never saw the server go");
    for e in &errors {
        assert!(postgres_error(e).is_connection(), "{e}");
    }
    // Every acknowledged save is there, whole; anything else there is whole too.
    let stored = store.list_users().await.unwrap();
    for i in &saved {
        assert!(
            stored.contains(&key(&format!("u{i}@a.example"))),
            "u{i} lost"
        );
    }
    for account in &stored {
        let u = store.load_user(account).await.unwrap().unwrap();
        let i = &account.username()[1..];
        assert_eq!(u.access_token.expose(), format!("token-{i}"));
        assert_eq!(u.refresh_token.unwrap().expose(), format!("refresh-{i}"));
        assert_eq!(u.client_id, Some(format!("client-{i}")));
        assert_eq!(u.client_secret.unwrap().expose(), format!("secret-{i}"));
    }
    let last = saved.last().unwrap();
    assert_eq!(
        store.active_user().await.unwrap(),
        Some(key(&format!("u{last}@a.example")))
    );
}

#[tokio::test]
async fn keeps_the_store_contract() {
    let Some(pg) = PostgresServer::start_or_skip() else {
        return;
    };
    mastodon_auth_tests::store_contract::check(|| store(&pg)).await;
}
