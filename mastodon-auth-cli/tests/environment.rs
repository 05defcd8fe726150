//! `MASTODON_AUTH_TOKEN` (with `MASTODON_AUTH_INSTANCE`): a token from the environment
//! overrides the stored accounts, and every command says so or refuses to pretend.

mod common;

use common::{Env, binary, run};
use mastodon_auth_tests::{LocalInstance, Profile};

async fn logged_in() -> (Env, String) {
    let env = Env::new(LocalInstance::builder().profile(Profile::Current)).await;
    assert_eq!(env.login_loopback(&env.base(), &[]).await.0, 0);
    let (code, token, err) = env.run(&["token"], "").await;
    assert_eq!(code, 0, "{err}");
    (env, token.trim().to_owned())
}

#[tokio::test]
async fn a_token_in_the_environment_is_used_and_named_where_nothing_is_stored() {
    let (env, token) = logged_in().await;
    let empty = env.dir.path().join("empty");
    let with_env = |args: &[&str]| {
        let mut cmd = binary(&empty);
        cmd.arg("--ca-cert")
            .arg(env.ca())
            .args(args)
            .env("MASTODON_AUTH_TOKEN", &token)
            .env("MASTODON_AUTH_INSTANCE", env.base());
        run(cmd, "")
    };
    let (code, out, err) = with_env(&["token"]).await;
    assert_eq!((code, out.trim()), (0, token.as_str()), "{err}");
    assert!(err.contains("MASTODON_AUTH_TOKEN"), "{err}");

    let (code, out, err) = with_env(&["whoami"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("alice@"), "{out}");

    let (code, out, err) = with_env(&["status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    let report = &reports[0];
    assert_eq!(report["storage"], "environment");
    assert_eq!(report["active"], true);
    assert_eq!(report["token"], "valid");
    assert!(report["account"].as_str().unwrap().starts_with("alice@"));
    assert_eq!(reports.as_array().unwrap().len(), 1);

    for refused in [&["use", "alice"][..], &["logout"][..]] {
        let (code, out, err) = with_env(refused).await;
        assert_eq!((code, out.as_str()), (2, ""), "{refused:?}: {err}");
        assert!(err.contains("MASTODON_AUTH_TOKEN is set"), "{err}");
    }
    assert!(!empty.join("accounts.json").exists(), "nothing was stored");
}

#[tokio::test]
async fn the_environment_overrides_the_active_account_and_takes_its_instance() {
    let (env, stored) = logged_in().await;
    let with_env = |token: &str, args: &[&str]| {
        let mut cmd = env.command(args);
        cmd.env("MASTODON_AUTH_TOKEN", token);
        run(cmd, "")
    };
    // A token the server does not know: the environment's token is what is checked.
    let (code, _, err) = with_env("not-a-token", &["whoami"]).await;
    assert_eq!(code, 3, "{err}");
    let (code, out, err) = with_env("not-a-token", &["status", "--json"]).await;
    assert_eq!(code, 3, "{err}");
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["storage"], "environment");
    assert_eq!(reports[0]["token"], "rejected");
    assert_eq!(reports[1]["storage"], "file");
    assert_eq!(reports[1]["active"], false);
    assert_eq!(reports[1]["token"], "valid");
    // Naming an account on the command line is more specific than the environment.
    let alice = reports[1]["account"].as_str().unwrap().to_owned();
    let (code, out, err) = with_env("not-a-token", &["token", "--as", &alice]).await;
    assert_eq!((code, out.trim()), (0, stored.as_str()), "{err}");
}

#[tokio::test]
async fn a_token_without_an_instance_is_refused_with_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = binary(dir.path());
    cmd.arg("token").env("MASTODON_AUTH_TOKEN", "t");
    let (code, out, err) = run(cmd, "").await;
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("set MASTODON_AUTH_INSTANCE"), "{err}");
}
