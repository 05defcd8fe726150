//! The multi-account JSON file: round trips, switching, crash safety, bad files, and several
//! processes writing at once.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mastodon_auth_core::{
    AccessToken, AccountDirectory, AccountKey, AppCredentials, ClientCredentials, CredentialStore,
    InstanceUrl, RefreshToken, Scopes, StoreError, UserCredentials,
};
use mastodon_auth_store::{AccountsFile, atomic};
use proptest::prelude::*;

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

#[tokio::test]
async fn everything_saved_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    let mut app = AppCredentials::new(
        url("https://a.example"),
        ClientCredentials::new("cid", "csec"),
    )
    .with_name("My App");
    app.scopes = Some("read write".parse::<Scopes>().unwrap());
    app.redirect_uris = vec!["urn:ietf:wg:oauth:2.0:oob".into()];
    let mut alice =
        user("alice@a.example", "t1").with_client(ClientCredentials::new("cid", "csec"));
    alice.refresh_token = Some(RefreshToken::new("r1"));
    alice.expires_at = Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000));
    alice.scopes = Some("read".parse::<Scopes>().unwrap());
    store.save_app(&app).await.unwrap();
    store.save_user(&alice).await.unwrap();

    let reopened = AccountsFile::open(store.path());
    assert_eq!(
        reopened.load_app(&app.instance).await.unwrap(),
        Some(app.clone())
    );
    assert_eq!(
        reopened.load_user(&key("alice@a.example")).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(reopened.load_active_user().await.unwrap(), Some(alice));
    assert_eq!(reopened.load_app(&url("b.example")).await.unwrap(), None);

    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(store.path()).unwrap()).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["apps"]["https://a.example"]["client_id"], "cid");
    assert_eq!(json["users"]["alice@a.example"]["access_token"], "t1");
    assert_eq!(
        json["users"]["alice@a.example"]["expires_at"],
        1_900_000_000u64
    );
    assert_eq!(json["active"], "alice@a.example");
}

#[tokio::test]
async fn listing_switching_and_removing() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    assert!(store.list_users().await.unwrap().is_empty());
    assert_eq!(store.active_user().await.unwrap(), None);
    for (account, token) in [("bob@b.example", "tb"), ("alice@a.example", "ta")] {
        store.save_user(&user(account, token)).await.unwrap();
    }
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![key("alice@a.example"), key("bob@b.example")]
    );
    assert_eq!(
        store.active_user().await.unwrap(),
        Some(key("alice@a.example"))
    );

    store.set_active_user(&key("bob@b.example")).await.unwrap();
    assert_eq!(
        store
            .load_active_user()
            .await
            .unwrap()
            .unwrap()
            .access_token
            .expose(),
        "tb"
    );
    match store.set_active_user(&key("carol@c.example")).await {
        Err(StoreError::UnknownAccount(k)) => assert_eq!(k.as_str(), "carol@c.example"),
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
    assert!(store.list_users().await.unwrap().is_empty());
}

#[tokio::test]
async fn saving_a_user_without_account_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    let anon = UserCredentials::new(url("a.example"), AccessToken::new("t"));
    assert!(matches!(
        store.save_user(&anon).await,
        Err(StoreError::AccountRequired)
    ));
    assert!(!store.path().exists());
}

#[tokio::test]
async fn a_crash_between_write_and_rename_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    store
        .save_user(&user("alice@a.example", "t1"))
        .await
        .unwrap();
    let before = fs::read(store.path()).unwrap();

    // The new content reaches the temporary file, then the process "dies" before the rename:
    // forgetting the staged write skips both the rename and the clean-up.
    let staged = atomic::stage(store.path(), b"{\"version\": 1, \"users\": {}}").unwrap();
    let leftover = staged.temp_path().to_owned();
    std::mem::forget(staged);
    assert!(leftover.exists());
    assert_eq!(fs::read(store.path()).unwrap(), before);
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![key("alice@a.example")]
    );

    store.save_user(&user("bob@b.example", "t2")).await.unwrap();
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![key("alice@a.example"), key("bob@b.example")]
    );
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_and_created_folders_too() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config/mastodon-auth/accounts.json");
    let store = AccountsFile::open(&path);
    store
        .save_user(&user("alice@a.example", "t1"))
        .await
        .unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("config")), 0o700);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    store.save_user(&user("bob@b.example", "t2")).await.unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn the_default_location_is_in_the_config_folder() {
    if let Some(path) = AccountsFile::default_location() {
        assert!(path.ends_with("mastodon-auth/accounts.json"), "{path:?}");
        assert!(path.is_absolute());
    }
}

#[tokio::test]
async fn bad_files_give_typed_errors_and_are_never_touched() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        (
            "truncated",
            b"{\"version\": 1, \"users\": {\"a@b.example\": {".to_vec(),
        ),
        ("not json", b"version = 1\n".to_vec()),
        ("binary", b"{\"version\": 1}\0".to_vec()),
        ("not utf-8", b"{\"version\": 1, \"x\": \"\xff\"}".to_vec()),
        ("oversized", {
            let mut v = b"{\"version\": 1, \"pad\": \"".to_vec();
            v.resize(usize::try_from(atomic::MAX_FILE_SIZE).unwrap() + 10, b'x');
            v.extend_from_slice(b"\"}");
            v
        }),
        (
            "future version",
            b"{\"version\": 7, \"apps\": {}, \"users\": {}}".to_vec(),
        ),
        ("wrong shape", b"{\"version\": 1, \"users\": []}".to_vec()),
    ];
    for (name, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = AccountsFile::open(dir.path().join("accounts.json"));
        fs::write(store.path(), &bytes).unwrap();
        let err = store.list_users().await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt { .. } | StoreError::TooLarge { .. }
            ),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("accounts.json"), "{name}: {err}");
        assert!(store.load_active_user().await.is_err(), "{name}");
        assert!(
            store.save_user(&user("a@b.example", "t")).await.is_err(),
            "{name}"
        );
        let app = AppCredentials::new(url("b.example"), ClientCredentials::new("id", "s"));
        assert!(store.save_app(&app).await.is_err(), "{name}");
        assert!(
            store.remove_user(&key("a@b.example")).await.is_err(),
            "{name}"
        );
        assert!(
            store.set_active_user(&key("a@b.example")).await.is_err(),
            "{name}"
        );
        assert_eq!(
            fs::read(store.path()).unwrap(),
            bytes,
            "{name}: file changed"
        );
    }
}

#[tokio::test]
async fn a_folder_in_place_of_the_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path());
    assert!(store.list_users().await.is_err());
    assert!(store.save_user(&user("a@b.example", "t")).await.is_err());
    assert!(dir.path().is_dir());
}

#[cfg(unix)]
#[tokio::test]
async fn an_unreadable_file_is_an_io_error_naming_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    store.save_user(&user("a@b.example", "t")).await.unwrap();
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(store.path()).is_ok() {
        // Running as root: permissions do not stop reads, so there is nothing to check.
        return;
    }
    match store.list_users().await {
        Err(StoreError::Io { path, .. }) => assert_eq!(path, store.path()),
        other => panic!("{other:?}"),
    }
    assert!(store.save_user(&user("c@d.example", "t")).await.is_err());
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(store.list_users().await.unwrap(), vec![key("a@b.example")]);
}

const CHILD_PATH: &str = "MASTODON_AUTH_STORE_TEST_CHILD_PATH";
const CHILD_ID: &str = "MASTODON_AUTH_STORE_TEST_CHILD_ID";
const PER_CHILD: usize = 5;

/// Not a test on its own: when started by `several_processes_never_lose_updates` with the
/// environment variables set, it acts as one of the concurrent writers.
#[test]
fn child_process_adds_accounts() {
    let (Ok(path), Ok(id)) = (std::env::var(CHILD_PATH), std::env::var(CHILD_ID)) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = AccountsFile::open(path);
    rt.block_on(async {
        for j in 0..PER_CHILD {
            let u = user(&format!("u{id}x{j}@p{id}.example"), &format!("t{id}-{j}"));
            store.save_user(&u).await.unwrap();
            let app = AppCredentials::new(
                url(&format!("p{id}.example")),
                ClientCredentials::new("c", "s"),
            );
            store.save_app(&app).await.unwrap();
        }
    });
}

#[test]
fn several_processes_never_lose_updates() {
    const CHILDREN: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..CHILDREN)
        .map(|i| {
            Command::new(&exe)
                .args(["--exact", "child_process_adds_accounts", "--test-threads=1"])
                .env(CHILD_PATH, &path)
                .env(CHILD_ID, i.to_string())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // A generous upper bound so a deadlock fails the test instead of hanging it.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut failed = Vec::new();
    for (i, child) in children.iter_mut().enumerate() {
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if status.is_none_or(|s| !s.success()) {
            failed.push((i, status));
        }
    }
    assert!(failed.is_empty(), "children failed: {failed:?}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = AccountsFile::open(&path);
    let users = rt.block_on(store.list_users()).unwrap();
    assert_eq!(users.len(), CHILDREN * PER_CHILD, "{users:?}");
    for i in 0..CHILDREN {
        let app = rt
            .block_on(store.load_app(&url(&format!("p{i}.example"))))
            .unwrap();
        assert!(app.is_some(), "app of child {i} lost");
    }
    // The temporary files were all renamed away.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[tokio::test]
async fn threads_of_one_process_never_lose_updates() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .save_user(&user(&format!("u{i}@x.example"), "t"))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.list_users().await.unwrap().len(), 16);
}

fn account() -> impl Strategy<Value = AccountKey> {
    "[a-zA-Z0-9_]{1,12}@[a-z][a-z0-9-]{0,8}\\.[a-z]{2,5}".prop_map(|s| key(&s))
}

fn any_secret() -> impl Strategy<Value = String> {
    // JSON keeps anything, control characters and line breaks included.
    any::<String>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn users_round_trip(
        entries in proptest::collection::btree_map(account(), (any_secret(), proptest::option::of(any_secret()), proptest::option::of(0u64..4_000_000_000)), 1..5),
        id in any_secret(), sec in any_secret(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = AccountsFile::open(dir.path().join("accounts.json"));
        let mut saved = Vec::new();
        for (account, (token, refresh, expires)) in entries {
            let mut u = UserCredentials::new(url(account.host()), AccessToken::new(token))
                .with_account(account)
                .with_client(ClientCredentials::new(id.clone(), sec.clone()));
            u.refresh_token = refresh.map(RefreshToken::new);
            u.expires_at = expires.map(|s| UNIX_EPOCH + Duration::from_secs(s));
            let app = AppCredentials::new(u.instance.clone(), ClientCredentials::new(id.clone(), sec.clone()));
            rt.block_on(async {
                store.save_user(&u).await.unwrap();
                store.save_app(&app).await.unwrap();
            });
            saved.push((u, app));
        }
        let last = saved.last().map(|(u, _)| u.clone());
        let reopened = AccountsFile::open(store.path());
        rt.block_on(async {
            for (u, app) in &saved {
                let key = u.account.as_ref().unwrap();
                prop_assert_eq!(reopened.load_user(key).await.unwrap(), Some(u.clone()));
                prop_assert_eq!(reopened.load_app(&u.instance).await.unwrap(), Some(app.clone()));
            }
            prop_assert_eq!(reopened.load_active_user().await.unwrap(), last);
            Ok(())
        })?;
    }
}

#[test]
fn timestamps_before_the_epoch_do_not_panic() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    let mut u = user("a@b.example", "t");
    u.expires_at = Some(SystemTime::UNIX_EPOCH - Duration::from_secs(5));
    rt.block_on(store.save_user(&u)).unwrap();
    assert!(rt.block_on(store.load_active_user()).unwrap().is_some());
}
