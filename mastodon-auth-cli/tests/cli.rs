//! Drives the `mastodon-auth` binary against a `LocalInstance`, playing the browser.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use mastodon_auth_tests::visit_loopback;
use mastodon_auth_tests::{Approval, Fault, LocalInstance, Profile};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

struct Env {
    instance: LocalInstance,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new(profile: Profile) -> Self {
        let instance = LocalInstance::builder()
            .profile(profile)
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), instance.ca_certificate_pem()).unwrap();
        Self { instance, dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mastodon-auth"));
        cmd.arg("--config")
            .arg(self.dir.path().join("config"))
            .arg("--ca-cert")
            .arg(self.dir.path().join("ca.pem"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs to completion with `stdin`; returns (exit code, stdout, stderr).
    async fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// Logs in through the loopback listener, approving as the test user.
    async fn login_loopback(&self, instance_url: &str, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec!["login", "--instance", instance_url, "--no-browser"];
        args.extend_from_slice(extra);
        let mut child = self.command(&args).spawn().unwrap();
        let url = read_authorize_url(&mut child).await;
        match self.instance.approve(&url).unwrap() {
            Approval::Redirect(location) => {
                assert!(location.starts_with("http://127.0.0.1:"), "{location}");
                let page = visit_loopback(&location).await.unwrap();
                assert!(page.starts_with("HTTP/1.1 200"), "{page}");
            }
            other => panic!("{other:?}"),
        }
        finish(child).await
    }
}

async fn read_authorize_url(child: &mut Child) -> String {
    let stderr = child.stderr.as_mut().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(url) = line.strip_prefix("Open this URL to authorize: ") {
            return url.to_owned();
        }
    }
}

async fn finish(mut child: Child) -> (i32, String, String) {
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).await.unwrap();
    }
    (status.code().unwrap(), out, err)
}

fn stored_secrets(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("config/accounts.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut secrets = Vec::new();
    for user in doc["users"].as_object().unwrap().values() {
        secrets.push(user["access_token"].as_str().unwrap().to_owned());
        if let Some(s) = user["client_secret"].as_str() {
            secrets.push(s.to_owned());
        }
    }
    for app in doc["apps"].as_object().unwrap().values() {
        secrets.push(app["client_secret"].as_str().unwrap().to_owned());
    }
    secrets
}

fn assert_no_secret(dir: &Path, outputs: &[&str]) {
    for secret in stored_secrets(dir) {
        for out in outputs {
            assert!(!out.contains(&secret), "a secret leaked into: {out}");
        }
    }
}

/// Alice's account key on the instance at `base`: the host with its port.
fn alice_at(base: &str) -> String {
    format!(
        "alice@{}",
        base.split_once("://").map_or(base, |(_, rest)| rest)
    )
}

#[tokio::test]
async fn loopback_login_then_accounts_whoami_token_logout() {
    let env = Env::new(Profile::Current).await;
    let base = env.instance.base_url();
    let alice = alice_at(&base);
    let (code, out, err) = env.login_loopback(&base, &["-v"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("Logged in as {alice}"));
    assert!(err.contains("sending request"), "-v logs requests: {err}");

    let (code, accounts, _) = env.run(&["accounts"], "").await;
    assert_eq!(code, 0);
    assert_eq!(accounts.trim(), format!("* {alice} ({base})"));

    let (code, who, e1) = env.run(&["whoami"], "").await;
    assert_eq!(
        (code, who.trim()),
        (0, format!("{alice} (Alice)").as_str()),
        "{e1}"
    );

    let (code, token, _) = env.run(&["token"], "").await;
    assert_eq!(code, 0);
    let token = token.trim().to_owned();
    assert_eq!(token.len(), 43, "a Mastodon token alone on the line");
    assert!(stored_secrets(env.dir.path()).contains(&token));
    assert_no_secret(env.dir.path(), &[&out, &err, &accounts, &who, &e1]);

    let (code, bye, _) = env.run(&["logout"], "").await;
    assert_eq!(
        (code, bye.trim()),
        (0, format!("Logged out {alice}").as_str())
    );
    let (code, accounts, _) = env.run(&["accounts", "--json"], "").await;
    assert_eq!((code, accounts.trim()), (0, "[]"));
    // The token was revoked on the server, not only forgotten.
    let revoked = env
        .instance
        .requests()
        .into_iter()
        .filter(|r| r.path == "/oauth/revoke")
        .count();
    assert_eq!(revoked, 1);
    let (code, _, err) = env.run(&["whoami"], "").await;
    assert_eq!(code, 2, "not logged in is a usage error: {err}");
}

#[tokio::test]
async fn oob_login_reads_the_code_from_stdin_and_reuses_the_app() {
    let env = Env::new(Profile::Current).await;
    let base = env.instance.base_url();
    for _ in 0..2 {
        let mut child = env
            .command(&["login", "--instance", &base, "--oob", "--json"])
            .spawn()
            .unwrap();
        let url = read_authorize_url(&mut child).await;
        let Approval::OutOfBand { code } = env.instance.approve(&url).unwrap() else {
            panic!("expected OOB")
        };
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{code}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let (status, out, err) = finish(child).await;
        assert_eq!(status, 0, "{err}");
        let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "account": alice_at(&base), "instance": base })
        );
    }
    let registrations = env
        .instance
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/apps")
        .count();
    assert_eq!(registrations, 1, "the app is registered once per instance");
}

#[tokio::test]
async fn password_login_works_on_4_3_and_is_refused_clearly_on_current() {
    let old = Env::new(Profile::Mastodon4_3).await;
    let user = old.instance.user().clone();
    let (code, out, err) = old
        .run(
            &[
                "login",
                "--instance",
                &old.instance.base_url(),
                "--username",
                &user.email,
                "--password-stdin",
            ],
            &format!("{}\n", user.password),
        )
        .await;
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("Logged in as {}", alice_at(&old.instance.base_url())).as_str()
        ),
        "{err}"
    );
    assert!(!out.contains(&user.password) && !err.contains(&user.password));

    let (code, _, err) = old
        .run(
            &[
                "login",
                "--instance",
                &old.instance.base_url(),
                "--username",
                &user.email,
                "--password-stdin",
            ],
            "wrong\n",
        )
        .await;
    assert_eq!(
        code, 3,
        "a wrong password is an authentication failure: {err}"
    );

    let current = Env::new(Profile::Current).await;
    let (code, _, err) = current
        .run(
            &[
                "login",
                "--instance",
                &current.instance.base_url(),
                "--username",
                &user.email,
                "--password-stdin",
            ],
            "x\n",
        )
        .await;
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "mastodon-auth: Password flow is no longer supported in Mastodon 4.4.0 and later. Please use the code flow instead."
    );
}

#[tokio::test]
async fn two_accounts_use_and_as() {
    let env = Env::new(Profile::Current).await;
    let ip = env.instance.base_url();
    let named = ip.replace("127.0.0.1", "localhost");
    assert_eq!(env.login_loopback(&ip, &[]).await.0, 0);
    assert_eq!(env.login_loopback(&named, &[]).await.0, 0);
    let (alice_ip, alice_named) = (alice_at(&ip), alice_at(&named));
    let (_, accounts, _) = env.run(&["accounts", "--json"], "").await;
    let json: serde_json::Value = serde_json::from_str(accounts.trim()).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            { "account": alice_ip, "instance": ip, "active": false },
            { "account": alice_named, "instance": named, "active": true },
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
    let who: serde_json::Value = serde_json::from_str(who.trim()).unwrap();
    assert_eq!(who["account"], alice_named.as_str());
    assert_eq!(who["display_name"], "Alice");
    let (code, _, err) = env.run(&["use", "bob@nowhere"], "").await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bob@nowhere"), "{err}");
}

#[tokio::test]
async fn exit_codes_name_the_kind_of_failure() {
    let env = Env::new(Profile::Current).await;
    // Usage.
    let (code, _, err) = env.run(&["login"], "").await;
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = env.run(&["frobnicate"], "").await;
    assert_eq!(code, 2);
    // Network: nothing listens on port 9.
    let (code, _, err) = env.run(&["server-info", "https://127.0.0.1:9"], "").await;
    assert_eq!(code, 4, "{err}");
    assert!(
        err.starts_with("mastodon-auth: could not complete request"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err}");
    // Rate limit: the metadata endpoint is not paced, so its 429 is reported at once.
    env.instance.inject_on(
        "/.well-known/oauth-authorization-server",
        Fault::TooManyRequests,
        1,
    );
    let (code, _, err) = env
        .run(&["server-info", &env.instance.base_url()], "")
        .await;
    assert_eq!(code, 5, "{err}");
    // Authentication: a revoked token.
    assert_eq!(env.login_loopback(&env.instance.base_url(), &[]).await.0, 0);
    let (_, token, _) = env.run(&["token"], "").await;
    let client = mastodon_auth::Mastodon::builder(env.instance.base_url())
        .transport(
            mastodon_auth::HyperTransport::builder()
                .add_root_pem(env.instance.ca_certificate_pem().as_bytes())
                .build()
                .unwrap(),
        )
        .access_token(token.trim())
        .build()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join("config/accounts.json")).unwrap(),
    )
    .unwrap();
    let app = doc["apps"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let client = mastodon_auth::Mastodon::builder(env.instance.base_url())
        .transport(
            mastodon_auth::HyperTransport::builder()
                .add_root_pem(env.instance.ca_certificate_pem().as_bytes())
                .build()
                .unwrap(),
        )
        .client(
            app["client_id"].as_str().unwrap(),
            app["client_secret"].as_str().unwrap(),
        )
        .access_token(client.access_token().unwrap())
        .build()
        .await
        .unwrap();
    client.revoke_access_token().await.unwrap();
    let (code, _, err) = env.run(&["whoami"], "").await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        err.trim(),
        "mastodon-auth: GET /api/v1/accounts/verify_credentials: 401 Unauthorized: The access token was revoked"
    );
}

#[tokio::test]
async fn server_info_reports_metadata_and_version() {
    let env = Env::new(Profile::Current).await;
    let (code, out, err) = env
        .run(&["server-info", &env.instance.base_url(), "--json"], "")
        .await;
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["metadata"], true);
    assert_eq!(json["pkce_s256"], true);
    assert_eq!(
        json["grant_types"],
        serde_json::json!(["authorization_code", "client_credentials"])
    );
    assert!(json["version"].as_str().unwrap().starts_with("4."));
    let old = Env::new(Profile::Mastodon4_2).await;
    let (code, out, _) = old
        .run(&["server-info", &old.instance.base_url()], "")
        .await;
    assert_eq!(code, 0);
    assert!(out.contains("OAuth metadata: none"), "{out}");
    assert!(out.contains("Version:   4.2.0"), "{out}");
}
