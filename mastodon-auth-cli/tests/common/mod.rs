//! Running the `mastodon-auth` binary against a local instance, playing the browser, and a
//! scripted server for answers no real instance gives.

#![allow(dead_code, unreachable_pub)] // Each test file uses its own part.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mastodon_auth::bytes::Bytes;
use mastodon_auth::http;
use mastodon_auth_tests::{
    Approval, Behaviour, LocalInstance, LocalInstanceBuilder, TestServer, visit_loopback,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Exit code, stdout, stderr.
pub type Outcome = (i32, String, String);

/// How long any one run of the binary may take before the test fails (a hang, not a speed
/// measure).
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The binary with a config folder, and nothing from the test's environment that changes
/// what it does (no browser, no display, no log filter).
pub fn binary(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mastodon-auth"));
    cmd.arg("--config")
        .arg(config)
        .env_remove("BROWSER")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("MASTODON_AUTH_CONFIG")
        .env_remove("MASTODON_AUTH_TOKEN")
        .env_remove("MASTODON_AUTH_INSTANCE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd` to completion with `stdin`.
pub async fn run(mut cmd: Command, stdin: impl Into<String>) -> Outcome {
    let stdin = stdin.into();
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    // The binary may exit without reading stdin.
    let _ = input.write_all(stdin.as_bytes()).await;
    drop(input);
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("the binary ended")
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A local instance and a config folder (with the instance's CA as `ca.pem`).
pub struct Env {
    pub instance: LocalInstance,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub async fn new(builder: LocalInstanceBuilder) -> Self {
        let instance = builder.start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), instance.ca_certificate_pem()).unwrap();
        Self { instance, dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn base(&self) -> String {
        self.instance.base_url()
    }

    /// The binary with this config folder and `--ca-cert`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = binary(&self.config());
        cmd.arg("--ca-cert").arg(self.ca()).args(args);
        cmd
    }

    pub async fn run(&self, args: &[&str], stdin: &str) -> Outcome {
        run(self.command(args), stdin).await
    }

    /// Logs in with the password grant as the test user; `stdin` holds the password line.
    pub async fn login_password(&self, stdin: &str) -> Outcome {
        let email = self.instance.user().email.clone();
        let args = [
            "login",
            "--instance",
            &self.base(),
            "--username",
            &email,
            "--password-stdin",
        ];
        self.run(&args, stdin).await
    }

    /// Logs in through the loopback listener, approving as the test user.
    pub async fn login_loopback(&self, instance_url: &str, extra: &[&str]) -> Outcome {
        let mut args = vec!["login", "--instance", instance_url, "--no-browser"];
        args.extend_from_slice(extra);
        let login = Login::start(self.command(&args)).await;
        self.approve_and_visit(&login.url).await;
        login.finish().await
    }

    /// Plays the person and the browser: approves and follows the redirect to the listener.
    pub async fn approve_and_visit(&self, url: &str) {
        match self.instance.approve(url).unwrap() {
            Approval::Redirect(location) => {
                assert!(location.starts_with("http://127.0.0.1:"), "{location}");
                let page = visit_loopback(&location).await.unwrap();
                assert!(page.starts_with("HTTP/1.1 200"), "{page}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// How many requests the instance received for `path`.
    pub fn requests_to(&self, path: &str) -> usize {
        self.instance
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// The access tokens and client secrets in the accounts file.
    pub fn stored_secrets(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(self.config().join("accounts.json")) else {
            return Vec::new();
        };
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut secrets = Vec::new();
        for user in doc["users"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, u)| u)
        {
            secrets.push(user["access_token"].as_str().unwrap().to_owned());
            if let Some(s) = user["client_secret"].as_str() {
                secrets.push(s.to_owned());
            }
        }
        for (_, app) in doc["apps"].as_object().into_iter().flatten() {
            secrets.push(app["client_secret"].as_str().unwrap().to_owned());
        }
        secrets
    }

    pub fn assert_no_secret(&self, outputs: &[&str]) {
        for secret in self.stored_secrets() {
            for out in outputs {
                assert!(!out.contains(&secret), "a secret leaked into: {out}");
            }
        }
    }
}

/// A `login` in progress, its authorization URL read from stderr.
pub struct Login {
    pub child: Child,
    pub url: String,
    stderr: JoinHandle<String>,
}

impl Login {
    /// Starts `cmd` and waits for the "Open this URL to authorize: …" line.
    pub async fn start(cmd: Command) -> Self {
        Self::start_after(cmd, "").await
    }

    /// Starts `cmd` and waits for the "Open this URL to authorize: …" line and then for a
    /// line beginning with `also` (the browser opener reports beside the wait).
    pub async fn start_after(mut cmd: Command, also: &'static str) -> Self {
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (found, url) = oneshot::channel();
        let stderr = tokio::spawn(async move {
            let mut found = Some(found);
            let mut seen_url = None;
            let mut all = String::new();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("Open this URL to authorize: ") {
                    seen_url = Some(url.to_owned());
                }
                if let Some(url) = seen_url.as_ref()
                    && (also.is_empty() || line.starts_with(also))
                    && let Some(found) = found.take()
                {
                    let _ = found.send(url.clone());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let Ok(Ok(url)) = tokio::time::timeout(RUN_LIMIT, url).await else {
            let _ = child.kill().await;
            panic!("no authorization URL on stderr: {}", stderr.await.unwrap());
        };
        Self { child, url, stderr }
    }

    /// The `redirect_uri` the authorization URL carries.
    pub fn redirect_uri(&self) -> String {
        let query = self.url.split_once('?').unwrap().1;
        form_urlencoded_value(query, "redirect_uri").unwrap()
    }

    pub async fn finish(mut self) -> Outcome {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(RUN_LIMIT, self.child.wait())
            .await
            .expect("login ended")
            .unwrap();
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        (status.code().unwrap(), out, self.stderr.await.unwrap())
    }
}

/// A query parameter's decoded value.
pub fn form_urlencoded_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// Writes an accounts file holding one active account, without any server.
pub fn seed_account(config: &Path, account: &str, instance: &str, token: &str) {
    seed_accounts(config, &[(account, instance, token)], Some(account));
}

/// Writes an accounts file holding `(account, instance, token)`s, `active` the active one.
pub fn seed_accounts(config: &Path, users: &[(&str, &str, &str)], active: Option<&str>) {
    std::fs::create_dir_all(config).unwrap();
    let users: serde_json::Map<String, serde_json::Value> = users
        .iter()
        .map(|(account, instance, token)| {
            let user = serde_json::json!({ "instance": instance, "access_token": token });
            ((*account).to_owned(), user)
        })
        .collect();
    let mut doc = serde_json::json!({ "version": 1, "apps": {}, "users": users });
    if let Some(active) = active {
        doc["active"] = active.into();
    }
    std::fs::write(config.join("accounts.json"), doc.to_string()).unwrap();
}

/// The header line of a JSON answer.
pub const JSON: &str = "Content-Type: application/json; charset=utf-8";

/// A plain-HTTP server on loopback answering fixed `(path, status, header line, body)` (the
/// query is ignored; any other path is a 404), for answers a real instance would not give. It
/// records the paths asked for and stops when dropped.
pub struct Scripted {
    server: TestServer,
    pub paths: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    pub async fn start(routes: &[(&str, u16, &str, &str)]) -> Self {
        let routes: HashMap<String, http::Response<Bytes>> = routes
            .iter()
            .map(|(path, status, header, body)| {
                let (name, value) = header.split_once(':').expect("a header line");
                let response = http::Response::builder()
                    .status(*status)
                    .header(name.trim(), value.trim())
                    .body(Bytes::from((*body).to_owned()))
                    .expect("a valid scripted answer");
                ((*path).to_owned(), response)
            })
            .collect();
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        let answer = Arc::new(move |request: &http::request::Parts| {
            let path = request.uri.path().to_owned();
            seen.lock().unwrap().push(path.clone());
            match routes.get(&path) {
                Some(response) => {
                    let mut copy = http::Response::new(response.body().clone());
                    *copy.status_mut() = response.status();
                    *copy.headers_mut() = response.headers().clone();
                    copy
                }
                None => http::Response::builder()
                    .status(404)
                    .header("content-type", "application/json; charset=utf-8")
                    .body(Bytes::from_static(br#"{"error":"Record not found"}"#))
                    .expect("a valid 404"),
            }
        });
        let server = TestServer::plain(Behaviour::Http(answer))
            .await
            .expect("scripted server");
        Self { server, paths }
    }

    pub fn base_url(&self) -> String {
        self.server.url("http", "")
    }
}
