//! `mastodon-auth-dev-server` as people run it: a subprocess on a free port, driven like a
//! browser (sign-in form, approval page, cookies; redirects looked at, not followed), and
//! stopped with Ctrl-C.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use mastodon_auth::{HttpTransport, HyperTransport};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A hang guard, not a speed check.
const LIMIT: Duration = Duration::from_secs(60);

/// The server, and its base URL from the first line it prints.
async fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mastodon-auth-dev-server"))
        .args(args)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("the server printed its address")
        .unwrap()
        .unwrap();
    let base = first.rsplit(" at ").next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// A very small browser: it keeps the cookies it is given.
struct Browser {
    transport: HyperTransport,
    cookies: Vec<String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            transport: HyperTransport::new().unwrap(),
            cookies: Vec::new(),
        }
    }

    async fn send(
        &mut self,
        method: &str,
        url: &str,
        form: &[(&str, &str)],
    ) -> http::Response<Bytes> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = http::Request::builder().method(method).uri(url);
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookies.join("; "));
        }
        if method == "POST" {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let response = self
            .transport
            .send(request.body(Bytes::from(body)).unwrap())
            .await
            .unwrap();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
        response
    }
}

fn location(response: &http::Response<Bytes>) -> String {
    assert_eq!(response.status(), 302, "{:?}", response.body());
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn text(response: &http::Response<Bytes>) -> String {
    String::from_utf8(response.body().to_vec()).unwrap()
}

/// An app registered for the out-of-band redirect, and its authorization URL.
async fn app(browser: &mut Browser, base: &str) -> (String, String, String) {
    let registered = browser
        .send(
            "POST",
            &format!("{base}/api/v1/apps"),
            &[
                ("client_name", "try"),
                ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob"),
                ("scopes", "read"),
            ],
        )
        .await;
    let app: serde_json::Value = serde_json::from_slice(registered.body()).unwrap();
    let (id, secret) = (
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    );
    let url = format!(
        "{base}/oauth/authorize?response_type=code&client_id={id}&redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob&scope=read&state=s1"
    );
    (id.to_owned(), secret.to_owned(), url)
}

fn stop(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_person_signs_in_approves_and_the_code_buys_a_token_then_ctrl_c_stops_it() {
    let (mut child, base) = start(&[]).await;
    let mut browser = Browser::new();
    let (id, secret, url) = app(&mut browser, &base).await;

    let to_sign_in = browser.send("GET", &url, &[]).await;
    assert_eq!(location(&to_sign_in), format!("{base}/auth/sign_in"));
    let form = browser
        .send("GET", &format!("{base}/auth/sign_in"), &[])
        .await;
    assert!(text(&form).contains("name=\"user[password]\""));

    let sign_in = format!("{base}/auth/sign_in");
    let wrong = browser
        .send(
            "POST",
            &sign_in,
            &[
                ("user[email]", "alice@localhost"),
                ("user[password]", "guess"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 200);
    assert!(text(&wrong).contains("Invalid E-mail address or password."));
    let signed_in = browser
        .send(
            "POST",
            &sign_in,
            &[
                ("user[email]", "alice@localhost"),
                ("user[password]", "correct horse battery staple"),
            ],
        )
        .await;
    assert_eq!(location(&signed_in), url, "back to the authorization");

    let page = text(&browser.send("GET", &url, &[]).await);
    assert!(
        page.contains("<strong>try</strong> would like permission"),
        "{page}"
    );
    assert!(page.contains("name=\"state\" value=\"s1\""), "{page}");
    let decided = browser
        .send(
            "POST",
            &format!("{base}/oauth/authorize"),
            &[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", "urn:ietf:wg:oauth:2.0:oob"),
                ("scope", "read"),
                ("state", "s1"),
                ("decision", "approve"),
            ],
        )
        .await;
    let native = location(&decided);
    let code = native.split("code=").nth(1).unwrap().to_owned();
    let token = browser
        .send(
            "POST",
            &format!("{base}/oauth/token"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &id),
                ("client_secret", &secret),
                ("redirect_uri", "urn:ietf:wg:oauth:2.0:oob"),
            ],
        )
        .await;
    assert_eq!(token.status(), 200, "{}", text(&token));

    stop(&child);
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn auto_approve_sends_the_browser_straight_back_with_a_code() {
    let (mut child, base) = start(&["--auto-approve", "--profile", "mastodon-4.3"]).await;
    let mut browser = Browser::new();
    let (_, _, url) = app(&mut browser, &base).await;
    let back = location(&browser.send("GET", &url, &[]).await);
    assert!(back.starts_with("/oauth/authorize/native?code="), "{back}");
    // Denying needs a session: without one the browser is sent to sign in.
    let deny = browser
        .send(
            "POST",
            &format!("{base}/oauth/authorize"),
            &[("decision", "deny")],
        )
        .await;
    assert_eq!(location(&deny), format!("{base}/auth/sign_in"));
    stop(&child);
    tokio::time::timeout(LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_bad_argument_says_what_is_wrong_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_mastodon-auth-dev-server"))
        .args(["--profile", "misskey"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown profile \"misskey\""));
}
