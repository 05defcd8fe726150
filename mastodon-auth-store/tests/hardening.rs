//! Regression tests for the store defects of the hardening review (issue 12: defects 8, 9, 11,
//! the byte order mark of 14, and temporary files left by a writer killed mid-write).

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use mastodon_auth_core::{
    AccessToken, AccountDirectory, AccountKey, ClientSecret, CredentialStore, InstanceUrl,
    StoreError, UserCredentials,
};
use mastodon_auth_store::atomic::{self, LockWait};
use mastodon_auth_store::{AccountsFile, MastodonPyFiles};
use serde_json::Value;

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

fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

// ---- defect 8: colliding keys and unknown fields ----

#[tokio::test]
async fn defect_8_two_entries_for_one_account_are_corrupt_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    let text = r#"{"version": 1, "users": {
        "bob@X.example": {"instance": "https://x.example", "access_token": "t1"},
        "bob@x.example": {"instance": "https://x.example", "access_token": "t2"}
    }}"#;
    fs::write(store.path(), text).unwrap();
    let err = store.list_users().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("\"bob@X.example\""), "{message}");
    assert!(message.contains("\"bob@x.example\""), "{message}");
    assert!(
        !message.contains("t1") && !message.contains("t2"),
        "{message}"
    );
    // Nothing is lost by a write either: the write is refused and the file stays.
    assert!(store.save_user(&user("al@y.example", "t")).await.is_err());
    assert_eq!(fs::read_to_string(store.path()).unwrap(), text);
}

#[tokio::test]
async fn defect_8_unknown_fields_survive_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    fs::write(
        store.path(),
        r#"{"version": 1, "theme": "dark",
            "apps": {"https://x.example": {"client_id": "c", "client_secret": "s", "website": "https://w.example"}},
            "users": {"bob@x.example": {"instance": "https://x.example", "access_token": "t1", "note": {"pinned": true}}},
            "active": "bob@x.example"}"#,
    )
    .unwrap();
    // A write about another account, then a rewrite of bob's own entry (a token refresh).
    store.save_user(&user("al@y.example", "t")).await.unwrap();
    store.save_user(&user("bob@x.example", "t2")).await.unwrap();
    let mut app = store.load_app(&url("x.example")).await.unwrap().unwrap();
    app.client.secret = ClientSecret::new("s2");
    store.save_app(&app).await.unwrap();
    store.set_active_user(&key("al@y.example")).await.unwrap();

    let v = json(store.path());
    assert_eq!(v["theme"], "dark");
    assert_eq!(v["users"]["bob@x.example"]["note"]["pinned"], true);
    assert_eq!(v["users"]["bob@x.example"]["access_token"], "t2");
    assert_eq!(
        v["apps"]["https://x.example"]["website"],
        "https://w.example"
    );
    assert_eq!(v["apps"]["https://x.example"]["client_secret"], "s2");
    assert_eq!(v["active"], "al@y.example");
}

// ---- defect 9: symbolic links ----

#[cfg(unix)]
#[tokio::test]
async fn defect_9_a_symlinked_accounts_file_stays_a_link_to_the_updated_file() {
    let dir = tempfile::tempdir().unwrap();
    let dots = dir.path().join("dotfiles");
    let config = dir.path().join("config");
    fs::create_dir(&dots).unwrap();
    fs::create_dir(&config).unwrap();
    let real = dots.join("accounts.json");
    let link = config.join("accounts.json");
    std::os::unix::fs::symlink("../dotfiles/accounts.json", &link).unwrap();

    // Through a link to a file that does not exist yet, then to one that does.
    let store = AccountsFile::open(&link);
    store.save_user(&user("al@y.example", "t1")).await.unwrap();
    store.save_user(&user("bob@x.example", "t2")).await.unwrap();

    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(json(&real)["users"]["bob@x.example"]["access_token"], "t2");
    // The lock (and every temporary file) is beside the file, not beside the link.
    assert_eq!(names_in(&config), ["accounts.json"]);
    assert_eq!(names_in(&dots), ["accounts.json", "accounts.json.lock"]);
    // Opening the file by its own path takes the same lock and sees the same accounts.
    let direct = AccountsFile::open(&real);
    assert_eq!(direct.list_users().await.unwrap().len(), 2);
}

#[cfg(unix)]
#[tokio::test]
async fn defect_9_a_symlinked_mastodon_py_file_stays_a_link_to_the_updated_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let dots = dir.path().join("dotfiles");
    fs::create_dir(&dots).unwrap();
    let real = dots.join("usercred.secret");
    fs::write(&real, "old\nhttps://y.example\n").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("usercred.secret");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    let store = MastodonPyFiles::user_only(&link);
    store.save_user(&user("al@y.example", "new")).await.unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_to_string(&real).unwrap(),
        "new\nhttps://y.example\n"
    );
    assert_eq!(names_in(dir.path()), ["dotfiles", "usercred.secret"]);

    // Logging out deletes the secret itself, not just the link to it.
    assert!(store.remove_user_file().await.unwrap());
    assert!(!real.exists());
    assert_eq!(store.load_active_user().await.unwrap(), None);
}

// ---- defect 11: a held lock ----

#[test]
fn defect_11_a_held_lock_is_announced_then_given_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    let held = atomic::lock(&path, &LockWait::new()).unwrap();
    let told: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
    let log = Arc::clone(&told);
    let store = AccountsFile::open(&path).lock_wait(
        LockWait::new()
            .timeout(Duration::from_secs(2))
            .on_wait(move |file| log.lock().unwrap().push(file.to_owned())),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    match rt.block_on(store.save_user(&user("al@y.example", "t"))) {
        Err(StoreError::LockTimeout { path: lock, waited }) => {
            assert_eq!(lock, held.path());
            assert!(waited >= Duration::from_secs(2), "{waited:?}");
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert_eq!(*told.lock().unwrap(), vec![path.clone()]);
    assert!(!path.exists(), "nothing was written");
}

#[test]
fn defect_11_a_lock_released_during_the_wait_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    let held = atomic::lock(&path, &LockWait::new()).unwrap();
    // The holder lets go as soon as the waiter says it is waiting: no timing guesses.
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let holder = std::thread::spawn(move || {
        rx.recv().unwrap();
        drop(held);
    });
    let store = AccountsFile::open(&path)
        .lock_wait(LockWait::new().on_wait(move |_| tx.lock().unwrap().send(()).unwrap()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.save_user(&user("al@y.example", "t")))
        .unwrap();
    holder.join().unwrap();
    assert_eq!(json(&path)["active"], "al@y.example");
}

// ---- defect 14: a byte order mark ----

#[tokio::test]
async fn defect_14_a_byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountsFile::open(dir.path().join("accounts.json"));
    fs::write(
        store.path(),
        "\u{feff}{\"version\": 1, \"users\": {\"al@y.example\": {\"instance\": \"https://y.example\", \"access_token\": \"t\"}}}",
    )
    .unwrap();
    assert_eq!(store.list_users().await.unwrap(), [key("al@y.example")]);
    store.save_user(&user("bob@x.example", "t2")).await.unwrap();
    assert!(
        !fs::read_to_string(store.path())
            .unwrap()
            .starts_with('\u{feff}')
    );

    let client = dir.path().join("clientcred.secret");
    let token = dir.path().join("usercred.secret");
    fs::write(&client, "\u{feff}CID\r\nCSEC\r\nhttps://y.example\r\n").unwrap();
    fs::write(&token, "\u{feff}TOK\nhttps://y.example\n").unwrap();
    let files = MastodonPyFiles::new(&client, &token);
    let app = files.load_app(&url("y.example")).await.unwrap().unwrap();
    assert_eq!(app.client.id, "CID");
    let loaded = files.load_active_user().await.unwrap().unwrap();
    assert_eq!(loaded.access_token.expose(), "TOK");
}

// ---- a writer killed between its temporary file and the rename ----

const KILLED_WRITER: &str = "MASTODON_AUTH_STORE_TEST_KILLED_WRITER";

/// Not a test on its own: started by `a_writer_killed_mid_write_leaves_nothing_behind` with
/// the variable set, it takes the lock, writes a temporary file as a save does, says so, and
/// waits to be killed before the rename.
#[test]
fn child_writer_waiting_to_be_killed() {
    let Ok(path) = std::env::var(KILLED_WRITER) else {
        return;
    };
    let path = PathBuf::from(path);
    let _lock = atomic::lock(&path, &LockWait::new()).unwrap();
    let staged = atomic::stage(&path, b"{\"version\": 1, \"users\": {}}").unwrap();
    println!("\nstaged {}", staged.temp_path().display());
    // The parent kills this process; reading stdin only ends if the parent dies first.
    let _ = std::io::stdin().read_line(&mut String::new());
}

#[test]
fn a_writer_killed_mid_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = AccountsFile::open(&path);
    rt.block_on(store.save_user(&user("al@y.example", "t1")))
        .unwrap();
    let before = fs::read(&path).unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer_waiting_to_be_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILLED_WRITER, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut temp = None;
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if let Some(p) = line.trim().strip_prefix("staged ") {
            temp = Some(PathBuf::from(p));
            break;
        }
        line.clear();
    }
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    let temp = temp.expect("the child staged a write");
    assert!(temp.exists(), "the killed writer left its temporary file");

    // The next run reads the old content (never the temporary file) and does not fail on it...
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(
        rt.block_on(store.list_users()).unwrap(),
        [key("al@y.example")]
    );
    // ...and the next write, which takes the lock the dead writer held, removes it.
    rt.block_on(store.save_user(&user("bob@x.example", "t2")))
        .unwrap();
    assert!(!temp.exists());
    assert_eq!(
        names_in(dir.path()),
        ["accounts.json", "accounts.json.lock"]
    );
    assert_eq!(rt.block_on(store.list_users()).unwrap().len(), 2);
}
