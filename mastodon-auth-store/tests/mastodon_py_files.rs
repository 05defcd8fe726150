//! Mastodon.py credential files: exact bytes, every older form, base-URL checks, file safety.

use std::fs;
use std::path::Path;

use mastodon_auth_core::{
    AccessToken, AccountKey, AppCredentials, ClientCredentials, CredentialStore, InstanceUrl,
    StoreError, StoreOperation, UserCredentials,
};
use mastodon_auth_store::MastodonPyFiles;
use mastodon_auth_store::mastodon_py::{
    ClientFile, UserFile, parse_client_file, parse_user_file, render_client_file, render_user_file,
};
use proptest::prelude::*;

fn url(s: &str) -> InstanceUrl {
    s.parse().unwrap()
}

fn files(dir: &Path) -> MastodonPyFiles {
    MastodonPyFiles::new(dir.join("clientcred.secret"), dir.join("usercred.secret"))
}

#[test]
fn mastodon_py_client_files_parse_and_render_byte_for_byte() {
    for text in [
        "foo\nbar\nhttps://example.com\nMastodon.py test suite\n",
        "CID\nCSEC\nhttp://127.0.0.1:45113\nMy App\n",
        "foo\nbar\nhttps://zombo.com\n",
        "foo\nbar\n",
    ] {
        let parsed = parse_client_file(text, Path::new("c")).unwrap();
        assert_eq!(render_client_file(&parsed, Path::new("c")).unwrap(), text);
    }
}

#[test]
fn mastodon_py_user_files_parse_and_render_byte_for_byte() {
    for text in [
        "foo\nhttps://zombo.com\n",
        "tok\nhttp://127.0.0.1:45113\nCID\nCSEC\n",
        "tok\n",
    ] {
        let parsed = parse_user_file(text, Path::new("u")).unwrap();
        assert_eq!(render_user_file(&parsed, Path::new("u")).unwrap(), text);
    }
}

#[test]
fn windows_line_endings_and_trailing_space_read_like_python() {
    let client = parse_client_file(
        "CID \r\nCSEC\t\r\nhttp://127.0.0.1:45113/\r\nMy App\r\n",
        Path::new("c"),
    )
    .unwrap();
    assert_eq!(client.client, ClientCredentials::new("CID", "CSEC"));
    assert_eq!(client.base_url, Some(url("http://127.0.0.1:45113")));
    assert_eq!(client.name.as_deref(), Some("My App"));
    let user = parse_user_file("tok  \r\n", Path::new("u")).unwrap();
    assert_eq!(user.access_token.expose(), "tok");
}

#[tokio::test]
async fn test_url_errors_files_agree_with_zombo() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("clientcred.secret"),
        "foo\nbar\nhttps://zombo.com\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("usercred.secret"),
        "foo\nhttps://zombo.com\n",
    )
    .unwrap();
    let store = files(dir.path()).with_instance(url("zombo.com"));
    let user = store.load_active_user().await.unwrap().unwrap();
    assert_eq!(user.instance.as_str(), "https://zombo.com");
    assert_eq!(user.access_token.expose(), "foo");
    // The client file's id and secret win over the token file's (missing) lines 3–4.
    assert_eq!(user.client, Some(ClientCredentials::new("foo", "bar")));
    let app = store.load_app(&url("zombo.com")).await.unwrap().unwrap();
    assert_eq!(
        (app.client.id.as_str(), app.instance.as_str()),
        ("foo", "https://zombo.com")
    );
}

fn assert_mismatch<T: std::fmt::Debug>(result: Result<T, StoreError>, file: &str) {
    match result {
        Err(StoreError::BaseUrlMismatch {
            path,
            found,
            expected,
        }) => {
            assert!(path.is_some_and(|p| p.ends_with(file)), "{file}");
            assert!(found.contains("evil.org") || expected.contains("evil.org"));
        }
        other => panic!("expected a base URL mismatch on {file}, got {other:?}"),
    }
}

#[tokio::test]
async fn test_url_errors_any_evil_url_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let client = dir.path().join("clientcred.secret");
    let user = dir.path().join("usercred.secret");
    let zombo = url("zombo.com");

    fs::write(&client, "foo\nbar\nhttps://evil.org\n").unwrap();
    fs::write(&user, "foo\nhttps://zombo.com\n").unwrap();
    let store = files(dir.path()).with_instance(zombo.clone());
    assert_mismatch(store.load_active_user().await, "clientcred.secret");
    assert_mismatch(store.load_app(&zombo).await, "clientcred.secret");

    fs::write(&client, "foo\nbar\nhttps://zombo.com\n").unwrap();
    fs::write(&user, "foo\nhttps://evil.org\n").unwrap();
    assert_mismatch(store.load_active_user().await, "usercred.secret");
    // Without a configured instance the two files still have to agree.
    assert_mismatch(
        files(dir.path()).load_active_user().await,
        "usercred.secret",
    );

    fs::write(&user, "foo\nhttps://zombo.com\n").unwrap();
    let evil = files(dir.path()).with_instance(url("https://evil.org"));
    assert_mismatch(evil.load_active_user().await, "clientcred.secret");
    assert_mismatch(store.load_app(&url("evil.org")).await, "clientcred.secret");
}

#[tokio::test]
async fn swapped_paths_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let client = dir.path().join("clientcred.secret");
    let user = dir.path().join("usercred.secret");
    let secret = "Xq3vJ9kLm2Pz8Rt5Wy1Bn4Cd7Fg0Hs6Ja-KeMo";
    fs::write(&client, format!("cid\n{secret}\nhttps://e.example\nApp\n")).unwrap();
    fs::write(&user, "tok\nhttps://e.example\ncid\nclientsecret\n").unwrap();
    // The client file given as the user file, and the other way round.
    let swapped = MastodonPyFiles::new(&user, &client).with_instance(url("e.example"));
    let user_only = MastodonPyFiles::user_only(&client).with_instance(url("e.example"));
    for err in [
        swapped.load_active_user().await.unwrap_err(),
        user_only.load_active_user().await.unwrap_err(),
    ] {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains("clientsecret"), "{shown}");
    }
}

#[tokio::test]
async fn a_one_line_token_file_needs_a_configured_instance() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.secret");
    fs::write(&path, "justatoken\n").unwrap();
    match MastodonPyFiles::user_only(&path).load_active_user().await {
        Err(StoreError::Corrupt { line, reason, .. }) => {
            assert_eq!(line, Some(2));
            assert!(reason.contains("base URL is missing"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let store = MastodonPyFiles::user_only(&path).with_instance(url("example.com"));
    let user = store.load_active_user().await.unwrap().unwrap();
    assert_eq!(user.instance.as_str(), "https://example.com");
    assert_eq!(user.client, None);
}

#[tokio::test]
async fn token_file_client_lines_are_used_without_a_client_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usercred.secret");
    fs::write(&path, "tok\nhttps://e.example\ncid\ncsec\n").unwrap();
    let user = MastodonPyFiles::user_only(&path)
        .load_active_user()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.client, Some(ClientCredentials::new("cid", "csec")));
    // A two-line file leaves them out (Mastodon.py would set empty strings).
    fs::write(&path, "tok\nhttps://e.example\n").unwrap();
    let user = MastodonPyFiles::user_only(&path)
        .load_active_user()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.client, None);
    // Half a client is an error naming the file and the line, not a silent drop.
    fs::write(&path, "tok\nhttps://e.example\ncid\n\n").unwrap();
    let err = MastodonPyFiles::user_only(&path)
        .load_active_user()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path: p, line: Some(4), .. } if *p == path),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("without its client secret"),
        "{err}"
    );
}

#[tokio::test]
async fn save_writes_what_mastodon_py_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = files(dir.path());
    let app = AppCredentials::new(
        url("http://127.0.0.1:45113"),
        ClientCredentials::new("CID", "CSEC"),
    )
    .with_name("My App");
    store.save_app(&app).await.unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("clientcred.secret")).unwrap(),
        "CID\nCSEC\nhttp://127.0.0.1:45113\nMy App\n"
    );
    let user = UserCredentials::new(url("http://127.0.0.1:45113"), AccessToken::new("TOK"))
        .with_client(ClientCredentials::new("CID", "CSEC"));
    store.save_user(&user).await.unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("usercred.secret")).unwrap(),
        "TOK\nhttp://127.0.0.1:45113\nCID\nCSEC\n"
    );
    // Without client credentials: the two-line form of create_account(to_file=…).
    let bare = UserCredentials::new(url("http://127.0.0.1:45113"), AccessToken::new("TOK2"));
    store.save_user(&bare).await.unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("usercred.secret")).unwrap(),
        "TOK2\nhttp://127.0.0.1:45113\n"
    );
    assert_eq!(store.load_app(&app.instance).await.unwrap(), Some(app));
}

#[tokio::test]
async fn the_account_is_named_only_while_the_saved_token_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = files(dir.path());
    let alice: AccountKey = "alice@e.example".parse().unwrap();
    let user =
        UserCredentials::new(url("e.example"), AccessToken::new("t1")).with_account(alice.clone());
    store.save_user(&user).await.unwrap();
    let account = |u: Option<UserCredentials>| u.and_then(|u| u.account);
    assert_eq!(
        account(store.load_active_user().await.unwrap()),
        Some(alice.clone())
    );
    assert_eq!(store.load_user(&alice).await.unwrap(), Some(user));

    // Another program replaced the token: the account is no longer known.
    fs::write(
        dir.path().join("usercred.secret"),
        "t2\nhttps://e.example\n",
    )
    .unwrap();
    assert_eq!(account(store.load_active_user().await.unwrap()), None);

    assert!(store.remove_user_file().await.unwrap());
    assert!(!dir.path().join("usercred.secret").exists());
    assert_eq!(store.load_active_user().await.unwrap(), None);
    assert!(!store.remove_user_file().await.unwrap());
    assert!(matches!(
        MastodonPyFiles::client_only(dir.path().join("c"))
            .remove_user_file()
            .await,
        Err(StoreError::Unsupported {
            operation: StoreOperation::RemoveUser,
            ..
        })
    ));
}

#[tokio::test]
async fn missing_files_are_empty_and_missing_paths_refuse_to_save() {
    let dir = tempfile::tempdir().unwrap();
    let store = files(dir.path());
    assert_eq!(store.load_app(&url("e.example")).await.unwrap(), None);
    assert_eq!(store.load_active_user().await.unwrap(), None);

    let user = UserCredentials::new(url("e.example"), AccessToken::new("t"));
    let client_only = MastodonPyFiles::client_only(dir.path().join("c"));
    assert!(matches!(
        client_only.save_user(&user).await,
        Err(StoreError::Unsupported {
            operation: StoreOperation::SaveUser,
            ..
        })
    ));
    assert_eq!(client_only.load_active_user().await.unwrap(), None);
    let app = AppCredentials::new(url("e.example"), ClientCredentials::new("id", "s"));
    let user_only = MastodonPyFiles::user_only(dir.path().join("u"));
    assert!(matches!(
        user_only.save_app(&app).await,
        Err(StoreError::Unsupported {
            operation: StoreOperation::SaveApp,
            ..
        })
    ));
}

#[tokio::test]
async fn saving_for_another_instance_than_configured_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let store = files(dir.path()).with_instance(url("zombo.com"));
    let user = UserCredentials::new(url("evil.org"), AccessToken::new("t"));
    assert_mismatch(store.save_user(&user).await, "usercred.secret");
    assert!(!dir.path().join("usercred.secret").exists());
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_and_created_folders_too() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    let store = MastodonPyFiles::new(nested.join("c.secret"), nested.join("u.secret"));
    let app = AppCredentials::new(url("e.example"), ClientCredentials::new("id", "s"));
    store.save_app(&app).await.unwrap();
    // An existing world-readable file becomes private when it is rewritten.
    fs::write(nested.join("u.secret"), "old\nhttps://e.example\n").unwrap();
    fs::set_permissions(nested.join("u.secret"), fs::Permissions::from_mode(0o644)).unwrap();
    let user = UserCredentials::new(url("e.example"), AccessToken::new("t"));
    store.save_user(&user).await.unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&nested.join("c.secret")), 0o600);
    assert_eq!(mode(&nested.join("u.secret")), 0o600);
    assert_eq!(mode(&nested.join("u.secret.lock")), 0o600);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&nested), 0o700);
}

#[tokio::test]
async fn bad_files_give_typed_errors_and_are_never_overwritten() {
    let big = vec![b'x'; usize::try_from(mastodon_auth_store::atomic::MAX_FILE_SIZE).unwrap() + 1];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", b"tok-only-client-line\n".to_vec()),
        ("binary", b"a\0b\nc\n".to_vec()),
        ("not utf-8", b"a\xffb\nc\n".to_vec()),
        ("oversized", big),
        ("bad url", b"id\nsecret\nnot a url\n".to_vec()),
    ];
    for (name, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let client = dir.path().join("clientcred.secret");
        fs::write(&client, &bytes).unwrap();
        let store = MastodonPyFiles::client_only(&client);
        let err = store.load_app(&url("e.example")).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt { .. } | StoreError::TooLarge { .. }
            ),
            "{name}: {err:?}"
        );
        assert!(
            err.to_string().contains("clientcred.secret"),
            "{name}: {err}"
        );
        let app = AppCredentials::new(url("e.example"), ClientCredentials::new("id", "s"));
        let save = store.save_app(&app).await;
        assert!(save.is_err(), "{name}: a save replaced a bad file");
        assert_eq!(fs::read(&client).unwrap(), bytes, "{name}: file changed");
    }
}

#[tokio::test]
async fn a_bad_user_file_is_not_overwritten_by_save_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usercred.secret");
    fs::write(&path, b"\0\0\0").unwrap();
    let store = MastodonPyFiles::user_only(&path);
    assert!(matches!(
        store.load_active_user().await,
        Err(StoreError::Corrupt { line: Some(1), .. })
    ));
    let user = UserCredentials::new(url("e.example"), AccessToken::new("t"));
    assert!(store.save_user(&user).await.is_err());
    assert_eq!(fs::read(&path).unwrap(), b"\0\0\0");
}

#[test]
fn the_store_works_without_a_tokio_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = files(dir.path());
    let user = UserCredentials::new(url("e.example"), AccessToken::new("t"));
    let fut = async {
        store.save_user(&user).await.unwrap();
        store.load_active_user().await.unwrap()
    };
    // A minimal executor: the futures never wait on anything without a runtime.
    let loaded = block_on_simple(fut);
    assert_eq!(loaded, Some(user));
}

fn block_on_simple<F: Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn secret() -> impl Strategy<Value = String> {
    // No line breaks, no control characters, no white space at the ends: what a line-based
    // file can keep. Anything else printable, including non-ASCII.
    "[!-~\\x{a1}-\\x{10ff}]([ -~\\x{a1}-\\x{10ff}]{0,40}[!-~\\x{a1}-\\x{10ff}])?"
}

fn instance() -> impl Strategy<Value = InstanceUrl> {
    "https?://[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,6}){1,2}(:[1-9][0-9]{0,3})?(/[a-z0-9]{1,8}){0,2}"
        .prop_map(|s| s.parse::<InstanceUrl>().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn client_files_round_trip(
        id in secret(), sec in secret(), base in proptest::option::of(instance()),
        name in proptest::option::of(secret()),
    ) {
        let mut file = ClientFile::new(ClientCredentials::new(id, sec));
        file.base_url = base;
        file.name = name;
        let text = render_client_file(&file, Path::new("c")).unwrap();
        prop_assert_eq!(&parse_client_file(&text, Path::new("c")).unwrap(), &file);
        let crlf = text.replace('\n', "\r\n");
        prop_assert_eq!(&parse_client_file(&crlf, Path::new("c")).unwrap(), &file);
    }

    #[test]
    fn user_files_round_trip(
        token in secret(), base in proptest::option::of(instance()),
        client in proptest::option::of((secret(), secret())),
    ) {
        let mut file = UserFile::new(AccessToken::new(token));
        file.base_url = base;
        if let Some((id, sec)) = client {
            file = file.with_client(ClientCredentials::new(id, sec));
        }
        let text = render_user_file(&file, Path::new("u")).unwrap();
        prop_assert_eq!(&parse_user_file(&text, Path::new("u")).unwrap(), &file);
    }

    #[test]
    fn errors_never_quote_the_secret(token in "[a-zA-Z0-9]{12,30}") {
        // A scrambled file with the token where the URL belongs.
        let text = format!("tok\n{token}?x\n");
        let err = parse_user_file(&text, Path::new("u")).unwrap_err();
        let shown = format!("{err} {err:?}");
        prop_assert!(!shown.contains(&token));
    }
}

#[test]
fn stores_round_trip_through_disk() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    proptest!(ProptestConfig::with_cases(32), |(
        token in secret(), id in secret(), sec in secret(), base in instance(), name in secret(),
    )| {
        let dir = tempfile::tempdir().unwrap();
        let store = files(dir.path());
        let app = AppCredentials::new(base.clone(), ClientCredentials::new(id.clone(), sec.clone()))
            .with_name(name);
        let user = UserCredentials::new(base.clone(), AccessToken::new(token))
            .with_client(ClientCredentials::new(id, sec));
        rt.block_on(async {
            store.save_app(&app).await.unwrap();
            store.save_user(&user).await.unwrap();
            assert_eq!(store.load_app(&base).await.unwrap(), Some(app));
            assert_eq!(store.load_active_user().await.unwrap(), Some(user));
        });
    });
}
