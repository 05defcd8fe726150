//! A real browser (headless Chromium, when installed) coming back to the login's loopback
//! listener: it must complete the login, and its speculative connections must not stall it.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Env, Login, Scripted};
use mastodon_auth_tests::{Approval, LocalInstance};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

#[tokio::test]
async fn headless_chromium_completes_a_loopback_login() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: chromium not installed");
        return;
    };
    let env = Env::new(LocalInstance::builder()).await;
    let login =
        Login::start(env.command(&["login", "--instance", &env.base(), "--no-browser"])).await;
    // The instance's consent page, once approved, redirects the browser to the listener: a
    // small server plays that page, so that the browser follows a real redirect.
    let Approval::Redirect(location) = env.instance.approve(&login.url).unwrap() else {
        panic!("the instance did not redirect")
    };
    let consent = Scripted::start(&[(
        "/oauth/authorize",
        302,
        &format!("Location: {location}"),
        "",
    )])
    .await;
    let profile = tempfile::tempdir().unwrap();
    let browser = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("{}/oauth/authorize", consent.base_url()))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let page = tokio::time::timeout(Duration::from_secs(120), browser)
        .await
        .expect("chromium ended")
        .unwrap();
    let dom = String::from_utf8_lossy(&page.stdout);
    assert!(dom.contains("Authorization received"), "{dom}");
    let (code, out, err) = login.finish().await;
    let base = env.base();
    let authority = base
        .split_once("://")
        .map_or(base.as_str(), |(_, rest)| rest);
    assert_eq!(
        (code, out.trim()),
        (0, format!("Logged in as alice@{authority}").as_str()),
        "{err}"
    );
}
