//! Drives the `mastodon-auth` binary against a `LocalInstance`, playing the person and the
//! browser.

mod common;

use std::time::Duration;

use common::{Env, Login, binary, run};
use mastodon_auth_tests::{Approval, Fault, LocalInstance, Profile};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

async fn env(profile: Profile) -> Env {
    Env::new(LocalInstance::builder().profile(profile)).await
}

fn parse(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Alice's account key on the instance at `base`: the host with its port.
fn alice_at(base: &str) -> String {
    format!(
        "alice@{}",
        base.split_once("://").map_or(base, |(_, rest)| rest)
    )
}

#[tokio::test]
async fn loopback_login_then_accounts_whoami_status_token_logout() {
    let env = env(Profile::Current).await;
    let base = env.base();
    let alice = alice_at(&base);
    let (code, out, err) = env.login_loopback(&base, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("Logged in as {alice}").as_str());

    let (code, accounts, _) = env.run(&["accounts"], "").await;
    assert_eq!((code, accounts.trim()), (0, format!("* {alice}").as_str()));

    let (code, who, e1) = env.run(&["whoami"], "").await;
    assert_eq!(
        (code, who.trim()),
        (0, format!("{alice} (Alice)").as_str()),
        "{e1}"
    );

    let (code, status, e2) = env.run(&["status"], "").await;
    assert_eq!(code, 0, "{e2}");
    assert_eq!(
        status,
        format!(
            "{alice} (active)\n  instance: {base}, version 4.7.3\n  token:    works (Alice)\n  scopes:   read write follow push\n"
        )
    );

    let (code, token, _) = env.run(&["token"], "").await;
    assert_eq!(code, 0);
    let token = token.trim().to_owned();
    assert_eq!(token.len(), 43, "a Mastodon token alone on the line");
    assert!(env.stored_secrets().contains(&token));
    let (_, token_json, _) = env.run(&["token", "--json"], "").await;
    assert_eq!(
        parse(&token_json),
        json!({ "account": alice.as_str(), "instance": base, "access_token": token, "storage": "file" })
    );
    env.assert_no_secret(&[&out, &err, &accounts, &who, &e1, &status, &e2]);

    let (code, bye, _) = env.run(&["logout"], "").await;
    assert_eq!(
        (code, bye.trim()),
        (0, format!("Logged out {alice}").as_str())
    );
    let (code, accounts, _) = env.run(&["accounts", "--json"], "").await;
    assert_eq!((code, accounts.trim()), (0, "[]"));
    // The token was revoked on the server, not only forgotten.
    assert_eq!(env.requests_to("/oauth/revoke"), 1);
    let (code, _, err) = env.run(&["whoami"], "").await;
    assert_eq!(code, 3, "not logged in is an authentication failure: {err}");
    assert_eq!(
        err.trim(),
        "mastodon-auth: not logged in: run `mastodon-auth login --instance URL` first"
    );
}

/// `BROWSER` pointing at a command that fails, no display: the URL is on stderr, the failure
/// is said, and visiting the URL completes the login.
#[tokio::test]
async fn login_without_a_display_prints_the_url_and_completes_when_it_is_visited() {
    let env = env(Profile::Current).await;
    let alice = alice_at(&env.base());
    let mut cmd = env.command(&["login", "--instance", &env.base()]);
    cmd.env("BROWSER", "false");
    let login = Login::start_after(cmd, "Could not open a browser").await;
    assert!(
        login
            .url
            .starts_with(&format!("{}/oauth/authorize?", env.base()))
    );
    env.approve_and_visit(&login.url).await;
    let (code, out, err) = login.finish().await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("Logged in as {alice}").as_str()),
        "{err}"
    );
    assert!(
        err.contains("Could not open a browser (no browser opened: false failed (exit status: 1)): open the URL above yourself."),
        "{err}"
    );
}

/// A working `BROWSER` command receives the URL; the "browser" then comes back.
#[tokio::test]
async fn login_hands_the_url_to_the_browser_command() {
    let env = env(Profile::Current).await;
    let seen = env.dir.path().join("opened-url");
    let opener = env.dir.path().join("opener.sh");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{}.tmp' && mv '{0}.tmp' '{0}'\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = env.command(&["login", "--instance", &env.base()]);
    cmd.env("BROWSER", &opener);
    let login = Login::start_after(cmd, "Opened your browser.").await;
    let opened = loop {
        if let Ok(url) = std::fs::read_to_string(&seen) {
            break url;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(opened, login.url);
    env.approve_and_visit(&opened).await;
    let (code, _, err) = login.finish().await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Opened your browser."), "{err}");
}

#[tokio::test]
async fn a_login_nobody_completes_times_out_with_exit_3() {
    let env = env(Profile::Current).await;
    let login = Login::start(env.command(&[
        "login",
        "--instance",
        &env.base(),
        "--no-browser",
        "--timeout",
        "1s",
    ]))
    .await;
    let (code, _, err) = login.finish().await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("mastodon-auth: login timed out: no authorization came back within 1s"),
        "{err}"
    );
}

/// The whole session against a plain-HTTP loopback instance (the Mastodon development server,
/// a mock server).
async fn http_session(profile: Profile) {
    let env = Env::new(LocalInstance::builder().profile(profile).https(false)).await;
    let base = env.base();
    let alice = alice_at(&base);
    assert!(base.starts_with("http://127.0.0.1:"));
    let (code, out, err) = env.login_loopback(&base, &[]).await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("Logged in as {alice}").as_str()),
        "{err}"
    );
    let (code, status, err) = env.run(&["status", "--json"], "").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(parse(&status)[0]["token"], "valid");
    let (code, who, err) = env.run(&["whoami"], "").await;
    assert_eq!(
        (code, who.trim()),
        (0, format!("{alice} (Alice)").as_str()),
        "{err}"
    );
    let (code, token, _) = env.run(&["token"], "").await;
    assert_eq!((code, token.trim().len()), (0, 43));
    let (code, bye, err) = env.run(&["logout"], "").await;
    assert_eq!(
        (code, bye.trim()),
        (0, format!("Logged out {alice}").as_str()),
        "{err}"
    );
    assert_eq!(env.requests_to("/oauth/revoke"), 1);
}

#[tokio::test]
async fn http_loopback_instance_without_oauth_metadata() {
    http_session(Profile::Mastodon4_2).await;
}

#[tokio::test]
async fn http_loopback_instance_current() {
    http_session(Profile::Current).await;
}

#[tokio::test]
async fn server_info_reports_metadata_and_version() {
    let env = env(Profile::Current).await;
    let (code, out, err) = env.run(&["server-info", &env.base(), "--json"], "").await;
    assert_eq!(code, 0, "{err}");
    let json = parse(&out);
    assert_eq!(json["metadata"], true);
    assert_eq!(json["pkce_s256"], true);
    assert_eq!(
        json["grant_types"],
        json!(["authorization_code", "client_credentials"])
    );
    assert_eq!(json["version"], "4.7.3");

    let old = Env::new(LocalInstance::builder().profile(Profile::Mastodon4_2)).await;
    let (code, out, err) = old.run(&["server-info", &old.base()], "").await;
    assert_eq!(code, 0, "an old server is not a broken one: {err}");
    assert!(out.contains("OAuth metadata: none"), "{out}");
    assert!(out.contains("Version:   4.2.0"), "{out}");
}

#[tokio::test]
async fn server_info_reports_a_server_failing_everywhere() {
    let env = env(Profile::Current).await;
    env.instance.inject(Fault::HtmlError(502), 100);
    let (code, out, err) = env.run(&["server-info", &env.base()], "").await;
    assert_eq!(code, 5, "{out}{err}");
    assert_eq!(
        err.trim(),
        format!(
            "mastodon-auth: {} is failing: GET /api/v1/instance/ answers 502 Bad Gateway with an HTML page",
            env.base()
        )
    );
    assert!(out.is_empty(), "{out}");
}

#[tokio::test]
async fn server_info_reports_an_unreachable_server() {
    let env = env(Profile::Current).await;
    // Nothing listens on port 9.
    let (code, _, err) = env.run(&["server-info", "https://127.0.0.1:9"], "").await;
    assert_eq!(code, 4, "{err}");
    assert!(
        err.starts_with(
            "mastodon-auth: could not complete request: could not connect to 127.0.0.1:9"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err}");
}

#[tokio::test]
async fn logout_with_the_server_down_keeps_the_account_until_logout_local() {
    let env = env(Profile::Current).await;
    let alice = alice_at(&env.base());
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    let Env { instance, dir } = env;
    instance.shutdown().await;
    let config = dir.path().join("config");
    let ca = dir.path().join("ca.pem");
    let logout = |extra: &'static [&'static str]| {
        let mut cmd = binary(&config);
        cmd.arg("--ca-cert").arg(&ca).arg("logout").args(extra);
        run(cmd, "")
    };
    let (code, _, err) = logout(&[]).await;
    assert_eq!(code, 4, "{err}");
    assert!(
        err.starts_with(
            format!(
                "mastodon-auth: could not revoke the token of {alice}: could not complete request"
            )
            .as_str()
        ),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with(format!("The account is kept; `mastodon-auth logout --local {alice}` forgets it without revoking").as_str()),
        "{err}"
    );
    let mut accounts = binary(&config);
    accounts.arg("accounts");
    assert_eq!(
        run(accounts, "").await.1.trim(),
        format!("* {alice}").as_str()
    );

    let (code, out, err) = logout(&["--local", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        parse(&out),
        json!({ "logged_out": alice.as_str(), "revoked": false, "active": null })
    );
    let mut accounts = binary(&config);
    accounts.args(["accounts", "--json"]);
    assert_eq!(run(accounts, "").await.1.trim(), "[]");
}

#[tokio::test]
async fn login_with_token_checks_and_keeps_a_token_from_the_web_interface() {
    let env = env(Profile::Current).await;
    let alice = alice_at(&env.base());
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    let (_, token, _) = env.run(&["token"], "").await;
    // Another config folder, as another machine would have.
    let other = env.dir.path().join("other");
    let with_token = |stdin: String| {
        let mut cmd = binary(&other);
        cmd.arg("--ca-cert").arg(env.ca()).args([
            "login",
            "--with-token",
            "--instance",
            &env.base(),
        ]);
        run(cmd, stdin)
    };
    let (code, _, err) = with_token("not-a-token\n".into()).await;
    assert_eq!(code, 3, "{err}");
    assert!(!other.join("accounts.json").exists());

    let (code, out, err) = with_token(token.clone()).await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("Logged in as {alice}").as_str()),
        "{err}"
    );
    let mut status = binary(&other);
    status.args(["status", "--json"]);
    let (code, out, err) = run(status, "").await;
    assert_eq!(code, 0, "{err}");
    let report = parse(&out);
    assert_eq!(report[0]["token"], "valid");
    assert_eq!(
        report[0]["scopes"],
        json!(["read", "write", "follow", "push"])
    );

    // This tool cannot revoke a token of another app: logout says so and forgets it.
    let mut logout = binary(&other);
    logout.arg("logout");
    let (code, out, err) = run(logout, "").await;
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("Forgot {alice}; its token was not revoked").as_str()
        ),
        "{err}"
    );
    assert!(
        err.contains("only the instance's web interface can revoke it"),
        "{err}"
    );
    assert_eq!(env.run(&["whoami"], "").await.0, 0, "the token still works");
}

#[tokio::test]
async fn logging_in_again_replaces_the_token_and_revokes_the_old_one() {
    let env = env(Profile::Current).await;
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    let (_, first, _) = env.run(&["token"], "").await;
    // Mastodon hands out the same token again for the same app and scopes: it must survive.
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    assert_eq!(env.run(&["token"], "").await.1, first);
    assert_eq!(env.requests_to("/oauth/revoke"), 0);
    assert_eq!(env.run(&["whoami"], "").await.0, 0);

    assert_eq!(
        env.login_loopback(&env.base(), &["--scopes", "read"])
            .await
            .0,
        0
    );
    let (_, second, _) = env.run(&["token"], "").await;
    assert_ne!(first, second);
    assert_eq!(env.run(&["whoami"], "").await.0, 0);
    assert_eq!(env.requests_to("/oauth/revoke"), 1);
    // The first token no longer works.
    let other = env.dir.path().join("other");
    let mut cmd = binary(&other);
    cmd.arg("--ca-cert")
        .arg(env.ca())
        .args(["login", "--with-token", "--instance", &env.base()]);
    let (code, _, err) = run(cmd, first.as_str()).await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("401 Unauthorized: The access token was revoked"),
        "{err}"
    );
}

#[tokio::test]
async fn status_checks_every_account_and_fails_for_a_rejected_active_one() {
    let env = env(Profile::Current).await;
    let ip = env.base();
    let alice = alice_at(&ip);
    let named = ip.replace("127.0.0.1", "localhost");
    let alice_named = alice_at(&named);
    assert_eq!(env.login_loopback(&ip, &[]).await.0, 0);
    assert_eq!(env.login_loopback(&named, &[]).await.0, 0);
    // Revoke the active account's token behind the tool's back: log in as it elsewhere and
    // log out there with... the tool itself, in a copy of the config.
    let copy = env.dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(
        env.config().join("accounts.json"),
        copy.join("accounts.json"),
    )
    .unwrap();
    let mut logout = binary(&copy);
    logout.arg("--ca-cert").arg(env.ca()).arg("logout");
    assert_eq!(run(logout, "").await.0, 0);

    let (code, out, err) = env.run(&["status", "--json"], "").await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        err.trim(),
        "mastodon-auth: the active account's token was rejected: GET /api/v1/accounts/verify_credentials: 401 Unauthorized: The access token was revoked"
    );
    let report = parse(&out);
    assert_eq!(report[0]["account"], alice.as_str());
    assert_eq!(report[0]["token"], "valid");
    assert_eq!(report[0]["version"], "4.7.3");
    assert_eq!(report[1]["account"], alice_named.as_str());
    assert_eq!(report[1]["active"], true);
    assert_eq!(report[1]["token"], "rejected");

    // With the valid account active, the other's rejected token is reported, not fatal.
    assert_eq!(env.run(&["use", alice.as_str()], "").await.0, 0);
    let (code, out, err) = env.run(&["status"], "").await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(format!("{alice_named}\n  instance: ").as_str()),
        "{out}"
    );
    assert!(
        out.contains("  token:    rejected: GET /api/v1/accounts/verify_credentials: 401"),
        "{out}"
    );
}

#[tokio::test]
async fn oob_login_reads_the_code_from_stdin_and_reuses_the_app() {
    let env = env(Profile::Current).await;
    let base = env.base();
    let alice = alice_at(&base);
    for _ in 0..2 {
        let mut login =
            Login::start(env.command(&["login", "--instance", &base, "--oob", "--json"])).await;
        let Approval::OutOfBand { code } = env.instance.approve(&login.url).unwrap() else {
            panic!("expected OOB")
        };
        let mut stdin = login.child.stdin.take().unwrap();
        stdin
            .write_all(format!("{code}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let (status, out, err) = login.finish().await;
        assert_eq!(status, 0, "{err}");
        assert_eq!(
            parse(&out),
            json!({ "account": alice.as_str(), "instance": base })
        );
    }
    assert_eq!(
        env.requests_to("/api/v1/apps"),
        1,
        "the app is registered once per instance"
    );
}

#[tokio::test]
async fn password_login_works_on_4_3_and_is_refused_clearly_on_current() {
    let old = env(Profile::Mastodon4_3).await;
    let user = old.instance.user().clone();
    let (code, out, err) = old.login_password(&format!("{}\n", user.password)).await;
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("Logged in as {}", alice_at(&old.instance.base_url())).as_str()
        ),
        "{err}"
    );
    assert!(!out.contains(&user.password) && !err.contains(&user.password));

    let (code, _, err) = old.login_password("wrong\n").await;
    assert_eq!(
        code, 3,
        "a wrong password is an authentication failure: {err}"
    );

    let current = env(Profile::Current).await;
    let (code, _, err) = current.login_password("x\n").await;
    // An authentication failure (exit 3, issue 25): another way of logging in is the fix.
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        err.trim(),
        "mastodon-auth: Password flow is no longer supported in Mastodon 4.4.0 and later. Please use the code flow instead."
    );
}

#[tokio::test]
async fn two_accounts_use_and_as() {
    let env = env(Profile::Current).await;
    let ip = env.base();
    let named = ip.replace("127.0.0.1", "localhost");
    assert_eq!(env.login_loopback(&ip, &[]).await.0, 0);
    assert_eq!(env.login_loopback(&named, &[]).await.0, 0);
    let (alice_ip, alice_named) = (alice_at(&ip), alice_at(&named));
    let (_, accounts, _) = env.run(&["accounts", "--json"], "").await;
    assert_eq!(
        parse(&accounts),
        json!([
            { "account": alice_ip.as_str(), "active": false, "storage": "file" },
            { "account": alice_named.as_str(), "active": true, "storage": "file" },
        ])
    );
    let (code, out, _) = env.run(&["use", &alice_ip, "--json"], "").await;
    assert_eq!(
        (code, out.trim()),
        (0, format!(r#"{{"active":"{alice_ip}"}}"#).as_str())
    );
    let (_, who, _) = env
        .run(&["whoami", "--json", "--as", &alice_named], "")
        .await;
    let who = parse(&who);
    assert_eq!(who["account"], alice_named.as_str());
    assert_eq!(who["display_name"], "Alice");
}

#[tokio::test]
async fn exit_codes_name_the_kind_of_failure() {
    let env = env(Profile::Current).await;
    // Usage: a missing option, an unknown command, an unknown account everywhere.
    for args in [
        &["login"][..],
        &["frobnicate"],
        &["use", "bob@nowhere"],
        &["whoami", "--as", "bob@nowhere"],
        &["token", "--as", "bob@nowhere"],
        &["logout", "bob@nowhere"],
        &["logout", "--local", "not-an-account"],
        &["login", "--instance", &env.base(), "--timeout", "soon"],
    ] {
        let (code, _, err) = env.run(args, "").await;
        assert_eq!(code, 2, "{args:?}: {err}");
        if args.contains(&"bob@nowhere") {
            assert!(err.contains("no account bob@nowhere"), "{args:?}: {err}");
        }
    }
    // Authentication: not logged in.
    for args in [&["whoami"][..], &["token"], &["status"], &["logout"]] {
        let (code, _, err) = env.run(args, "").await;
        assert_eq!(code, 3, "{args:?}: {err}");
    }
    // Server: the metadata endpoint is not paced, so its 429 is reported at once.
    env.instance.inject_on(
        "/.well-known/oauth-authorization-server",
        Fault::TooManyRequests,
        1,
    );
    let (code, _, err) = env.run(&["server-info", &env.base()], "").await;
    assert_eq!(code, 5, "{err}");
    // Authentication: a revoked token.
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    let copy = env.dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(
        env.config().join("accounts.json"),
        copy.join("accounts.json"),
    )
    .unwrap();
    let mut logout = binary(&copy);
    logout.arg("--ca-cert").arg(env.ca()).arg("logout");
    assert_eq!(run(logout, "").await.0, 0);
    let (code, _, err) = env.run(&["whoami"], "").await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        err.trim(),
        "mastodon-auth: GET /api/v1/accounts/verify_credentials: 401 Unauthorized: The access token was revoked"
    );
}

#[tokio::test]
async fn unknown_scopes_are_refused_before_anything_is_sent() {
    let env = env(Profile::Current).await;
    let (code, _, err) = env
        .run(
            &["login", "--instance", &env.base(), "--scopes", "read wirte"],
            "",
        )
        .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(
            "mastodon-auth: unknown scope wirte (did you mean write?); the scopes are read profile \
             write follow push admin:read admin:write, and parts of them such as read:accounts"
        ),
        "{err}"
    );
    assert!(env.instance.requests().is_empty());
}

#[tokio::test]
async fn verbose_shows_this_projects_events_only() {
    let env = env(Profile::Current).await;
    let (code, _, err) = env.login_loopback(&env.base(), &["-v"]).await;
    assert_eq!(code, 0, "{err}");
    let events: Vec<&str> = err
        .lines()
        .filter(|l| {
            let level = l.split_whitespace().next().unwrap_or_default();
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
        })
        .collect();
    assert!(
        events.iter().any(|l| l.contains("sending request")),
        "{err}"
    );
    for event in &events {
        let target = event.split_whitespace().nth(1).unwrap_or_default();
        assert!(
            target.starts_with("mastodon_auth"),
            "an event from elsewhere: {event}"
        );
    }
    env.assert_no_secret(&[&err]);

    // RUST_LOG is honoured without -v too: here the warning of an unusable instance document.
    env.instance
        .inject_on("/api/v1/instance/", Fault::HtmlError(502), 1);
    let mut info = env.command(&["server-info", &env.base()]);
    info.env("RUST_LOG", "mastodon_auth=warn");
    let (_, _, err) = run(info, "").await;
    assert!(
        err.contains("WARN mastodon_auth: could not learn the instance version"),
        "{err}"
    );
}

#[tokio::test]
async fn the_config_folder_comes_from_the_environment_and_help_shows_the_default() {
    let env = env(Profile::Current).await;
    let home = tempfile::tempdir().unwrap();
    let mut help = binary(env.dir.path());
    help.env("XDG_CONFIG_HOME", home.path())
        .env("HOME", home.path())
        .arg("--help");
    let (code, out, _) = run(help, "").await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!(
            "[default: {}/mastodon-auth]",
            home.path().display()
        )),
        "{out}"
    );

    let folder = env.dir.path().join("from-env");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mastodon-auth"));
    cmd.env("MASTODON_AUTH_CONFIG", &folder)
        .arg("--ca-cert")
        .arg(env.ca())
        .args(["login", "--no-browser", "--instance", &env.base()])
        .env_remove("BROWSER")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let login = Login::start(cmd).await;
    env.approve_and_visit(&login.url).await;
    assert_eq!(login.finish().await.0, 0);
    assert!(folder.join("accounts.json").is_file());
}

#[tokio::test]
async fn a_ca_certificate_given_at_login_is_remembered_for_the_instance() {
    let env = env(Profile::Current).await;
    let alice = alice_at(&env.base());
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    // No --ca-cert from here on.
    let mut whoami = binary(&env.config());
    whoami.arg("whoami");
    let (code, out, err) = run(whoami, "").await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("{alice} (Alice)").as_str()),
        "{err}"
    );
    let mut info = binary(&env.config());
    info.args(["server-info", &env.base()]);
    assert_eq!(run(info, "").await.0, 0);
    // Another instance with another CA is not trusted through it.
    let other = LocalInstance::start().await.unwrap();
    let mut info = binary(&env.config());
    info.args(["server-info", &other.base_url()]);
    let (code, _, err) = run(info, "").await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("TLS handshake"), "{err}");
}

#[tokio::test]
async fn completions_print_a_script_and_refuse_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = binary(dir.path());
    cmd.args(["completions", "bash"]);
    let (code, out, err) = run(cmd, "").await;
    assert_eq!(code, 0, "{err}");
    // What the script completes is checked by driving the shells (tests/completion.rs).
    assert!(out.contains("MASTODON_AUTH_COMPLETE"), "{out}");
    let mut cmd = binary(dir.path());
    cmd.args(["completions", "bash", "--json"]);
    let (code, out, err) = run(cmd, "").await;
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
}

#[tokio::test]
async fn the_exit_code_table_in_help_is_the_readme_s() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = binary(dir.path());
    cmd.arg("--help");
    let (_, help, _) = run(cmd, "").await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let rows: Vec<(&str, &str)> = help
        .lines()
        .skip_while(|l| *l != "Exit codes:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.trim().split_once("  ").unwrap())
        .collect();
    assert_eq!(rows.len(), 6, "{help}");
    for (code, meaning) in rows {
        let row = format!("| {code} | {meaning} |");
        assert!(readme.contains(&row), "README lacks {row}");
    }
}
