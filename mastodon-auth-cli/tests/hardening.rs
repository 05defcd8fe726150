//! Regression tests for what a hostile server, a hostile local process and a broken terminal
//! could do to the `mastodon-auth` binary, one per defect, each named for it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Env, JSON, Login, Scripted, binary, run, seed_account};
use mastodon_auth_tests::{Fault, LocalInstance, Profile, visit_loopback};

/// `host:port` of a base URL.
fn authority_of(base: &str) -> &str {
    base.split_once("://").map_or(base, |(_, rest)| rest)
}

/// A visit that fails the test instead of hanging it when the listener does not answer.
async fn visit(url: &str) -> String {
    tokio::time::timeout(Duration::from_secs(20), visit_loopback(url))
        .await
        .expect("the listener answered")
        .unwrap()
}

/// Defect 1: a request with a wrong or missing `state` (or an `error` without it) used to end
/// the login, and a connection that sent nothing blocked the listener.
#[tokio::test]
async fn defect_1_forged_callbacks_and_silent_connections_neither_end_nor_stall_the_login() {
    let env = Env::new(LocalInstance::builder()).await;
    let login =
        Login::start(env.command(&["login", "--instance", &env.base(), "--no-browser"])).await;
    let callback = login.redirect_uri();
    let authority = callback
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    // Connected, sending nothing, and kept open until the login is over.
    let _silent = tokio::net::TcpStream::connect(&authority).await.unwrap();
    for forged in [
        "?code=EVIL&state=wrong",
        "?code=EVIL",
        "?error=access_denied",
        "?error=server_error&error_description=owned&state=",
    ] {
        let page = visit(&format!("{callback}{forged}")).await;
        assert!(page.starts_with("HTTP/1.1 400"), "{forged}: {page}");
    }
    env.approve_and_visit(&login.url).await;
    let (code, out, err) = login.finish().await;
    let alice = format!("alice@{}", authority_of(&env.base()));
    assert_eq!(
        (code, out.trim()),
        (0, format!("Logged in as {alice}").as_str()),
        "{err}"
    );
}

/// A server whose every string tries to drive the terminal.
const HOSTILE_NAME: &str = "Bob\u{1b}[2J\u{1b}]0;owned\u{7}\u{202e}";

async fn hostile_server() -> Scripted {
    let account = serde_json::json!({
        "id": "1", "username": "alice", "acct": "alice", "display_name": HOSTILE_NAME, "url": null,
    })
    .to_string();
    let instance = serde_json::json!({ "version": "4.7.3 \u{1b}]0;owned\u{7}" }).to_string();
    let metadata = serde_json::json!({
        "issuer": "https://evil.example/",
        "authorization_endpoint": "https://evil.example/\u{1b}[2Jauthorize",
        "token_endpoint": "https://evil.example/token\u{202e}",
        "grant_types_supported": ["authorization_code\u{1b}[5m", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
    })
    .to_string();
    let token_error = serde_json::json!({
        "error": "invalid_grant",
        "error_description": "wrong password\u{1b}[2J\u{1b}]0;owned\u{7}\nmastodon-auth: Logged in",
    })
    .to_string();
    let app = r#"{"id":"1","name":"mastodon-auth","client_id":"cid","client_secret":"csec","redirect_uri":"urn:ietf:wg:oauth:2.0:oob","vapid_key":"v"}"#;
    Scripted::start(&[
        ("/api/v1/accounts/verify_credentials", 200, JSON, &account),
        ("/api/v1/instance/", 200, JSON, &instance),
        (
            "/.well-known/oauth-authorization-server",
            200,
            JSON,
            &metadata,
        ),
        ("/api/v1/apps", 200, JSON, app),
        ("/oauth/token", 400, JSON, &token_error),
    ])
    .await
}

fn assert_no_terminal_controls(text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
        "raw control characters reached the terminal: {text:?}"
    );
}

/// Defect 2: server-supplied text reached the terminal raw.
#[tokio::test]
async fn defect_2_server_text_is_escaped_as_text_and_exact_as_json() {
    let server = hostile_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    seed_account(&config, "alice@127.0.0.1", &server.base_url(), "token");

    let mut whoami = binary(&config);
    whoami.arg("whoami");
    let (code, out, err) = run(whoami, "").await;
    assert_eq!(code, 0, "{err}");
    assert_no_terminal_controls(&out);
    assert_eq!(
        out,
        "alice@127.0.0.1 (Bob\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{202e})\n"
    );
    let mut whoami = binary(&config);
    whoami.args(["whoami", "--json"]);
    let (_, out, _) = run(whoami, "").await;
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["display_name"], HOSTILE_NAME, "JSON stays exact");

    let mut info = binary(&config);
    info.args(["server-info", &server.base_url()]);
    let (code, out, err) = run(info, "").await;
    assert_eq!(code, 0, "{err}");
    assert_no_terminal_controls(&out);
    assert!(
        out.contains("Version:   4.7.3 \\u{1b}]0;owned\\u{7}\n"),
        "{out}"
    );
    assert!(
        out.contains("authorize: https://evil.example/\\u{1b}[2Jauthorize\n"),
        "{out}"
    );
    assert!(
        out.contains("token:     https://evil.example/token\\u{202e}\n"),
        "{out}"
    );
    assert!(
        out.contains("grants:    authorization_code\\u{1b}[5m, client_credentials\n"),
        "{out}"
    );

    // The token endpoint's error_description, with a newline trying to forge a line.
    let plain = Scripted::start(&[
        ("/api/v1/apps", 200, JSON, r#"{"id":"1","name":"m","client_id":"cid","client_secret":"csec","redirect_uri":"urn:ietf:wg:oauth:2.0:oob"}"#),
        ("/oauth/token", 400, JSON, r#"{"error":"invalid_grant","error_description":"wrong\u001b[2J\nmastodon-auth: Logged in"}"#),
    ])
    .await;
    let mut login = binary(&dir.path().join("other"));
    login.args([
        "login",
        "--instance",
        &plain.base_url(),
        "--username",
        "a@b",
        "--password-stdin",
    ]);
    let (code, _, err) = run(login, "pw\n").await;
    assert_eq!(code, 3, "{err}");
    assert_no_terminal_controls(&err);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("wrong\\u{1b}[2J\\u{a}mastodon-auth: Logged in"),
        "{err}"
    );
}

/// Defect 6: `token | true` and `accounts > /dev/full` panicked with a backtrace.
#[test]
fn defect_6_a_closed_stdout_ends_quietly_and_a_full_one_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    seed_account(&config, "alice@example.com", "https://example.com", "TOKEN");
    let command = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mastodon-auth"));
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    for args in [&["token"][..], &["token", "--json"], &["accounts"]] {
        // A pipe whose reader is gone: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = command(args).stdout(writer).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!((out.status.code(), err.as_ref()), (Some(0), ""), "{args:?}");
    }
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = command(&["accounts"]).stdout(full).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "mastodon-auth: cannot write to standard output: No space left on device (os error 28)\n"
    );
}

/// Defect 7: a token issued for a login that then failed stayed valid on the server, stored
/// nowhere.
#[tokio::test]
async fn defect_7_a_token_issued_for_a_failed_login_is_revoked() {
    let env = Env::new(LocalInstance::builder().profile(Profile::Mastodon4_3)).await;
    env.instance.inject_on(
        "/api/v1/accounts/verify_credentials",
        Fault::HtmlError(401),
        1,
    );
    let user = env.instance.user().clone();
    let (code, _, err) = env.login_password(&format!("{}\n", user.password)).await;
    assert_eq!(code, 3, "{err}");
    let paths: Vec<String> = env
        .instance
        .requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    let token = paths
        .iter()
        .position(|p| p == "/oauth/token")
        .expect("a token was issued");
    let revoke = paths.iter().position(|p| p == "/oauth/revoke");
    assert!(
        revoke.is_some_and(|r| r > token),
        "the new token was not revoked: {paths:?}"
    );
    let (_, accounts, _) = env.run(&["accounts", "--json"], "").await;
    assert_eq!(accounts.trim(), "[]");
}

/// Defect 10: `--ca-cert` was read at start by every command, whatever it was: a FIFO hung
/// even `accounts`, `/dev/zero` grew without bound.
#[tokio::test]
async fn defect_10_ca_cert_is_read_only_to_connect_and_only_a_small_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let with_ca = |ca: &std::path::Path, args: &[&str]| {
        let mut cmd = binary(&config);
        cmd.arg("--ca-cert").arg(ca).args(args);
        run(cmd, "")
    };
    // Offline commands never read it.
    let (code, out, err) = with_ca(&fifo, &["accounts"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.is_empty() && err.starts_with("No accounts yet"),
        "{out}{err}"
    );

    // A command that connects refuses what is not a small regular file holding a certificate,
    // before connecting (nothing listens on port 9: a connection would be exit 4).
    let big = dir.path().join("big.pem");
    let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    pem.resize(2 << 20, b'A');
    std::fs::write(&big, pem).unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for (ca, why) in [
        (&fifo, "not a regular file"),
        (&big, "larger than 1 MiB"),
        (&empty, "no PEM certificate"),
    ] {
        let (code, _, err) = with_ca(ca, &["server-info", "https://127.0.0.1:9"]).await;
        assert_eq!(code, 2, "{err}");
        assert!(
            err.starts_with(&format!(
                "mastodon-auth: CA certificate {}: {why}",
                ca.display()
            )),
            "{err}"
        );
    }
}

/// Defect 5 (the CLI's part): against a server that answers 429 to everything, the tool said
/// nothing and waited without end. Now it says what it waits for and gives up after a small
/// retry budget with exit 5 (server error).
#[tokio::test]
async fn defect_5_a_429_storm_is_announced_and_ends_with_exit_5() {
    let env = Env::new(LocalInstance::builder()).await;
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    let before = env.requests_to("/api/v1/accounts/verify_credentials");
    env.instance.inject_on(
        "/api/v1/accounts/verify_credentials",
        Fault::TooManyRequestsFor(Duration::from_secs(3)),
        usize::MAX,
    );
    let (code, _, err) = env.run(&["whoami"], "").await;
    assert_eq!(code, 5, "{err}");
    // Each wait lasts until the reset (3 s away) plus the second Mastodon.py adds.
    let waits: Vec<&str> = err.lines().filter(|l| l.starts_with("waiting ")).collect();
    assert_eq!(waits.len(), 2, "{err}");
    for (retry, line) in waits.iter().enumerate() {
        let seconds: u64 = line["waiting ".len()..]
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!((3..=4).contains(&seconds), "{line}");
        assert!(
            line.ends_with(&format!(
                " s for the server's rate limit (HTTP 429, retry {} of 2)…",
                retry + 1
            )),
            "{line}"
        );
    }
    assert!(
        err.lines().last().is_some_and(
            |l| l.starts_with("mastodon-auth: ") && l.contains("gave up after 2 retries and ")
        ),
        "{err}"
    );
    // The first attempt and two retries.
    assert_eq!(
        env.requests_to("/api/v1/accounts/verify_credentials") - before,
        3
    );
}

/// Defect 11 (the CLI's part): a live process holding the accounts file's lock made `use`
/// block in silence. Now it says which file it waits for, and goes on once the lock is free.
#[tokio::test]
async fn defect_11_waiting_for_a_held_lock_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    seed_account(&config, "alice@example.com", "https://example.com", "TOKEN");
    let accounts = config.join("accounts.json");
    let held = mastodon_auth::store::atomic::lock(
        &accounts,
        &mastodon_auth::store::atomic::LockWait::new(),
    )
    .unwrap();
    let mut cmd = binary(&config);
    cmd.args(["use", "alice@example.com"]);
    let using = tokio::spawn(run(cmd, ""));
    // Held well past the one second after which the wait is announced.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(held);
    let (code, out, err) = using.await.unwrap();
    assert_eq!(
        (code, out.trim()),
        (0, "Now using alice@example.com"),
        "{err}"
    );
    assert_eq!(
        err,
        format!(
            "waiting for {} (held by another mastodon-auth)…\n",
            accounts.display()
        )
    );
}
