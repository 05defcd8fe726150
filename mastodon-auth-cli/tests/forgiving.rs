//! A CLI that forgives mistakes: typos get a suggestion, a user name alone names its account,
//! and logging out the active account leaves another one active.

mod common;

use std::path::Path;

use common::{binary, run, seed_accounts};

/// Two accounts on two instances, bob's active; tokens `alice-token` and `bob-token`.
fn two_accounts(config: &Path) {
    seed_accounts(
        config,
        &[
            (
                "alice@alpha.example",
                "https://alpha.example",
                "alice-token",
            ),
            ("bob@beta.example", "https://beta.example", "bob-token"),
        ],
        Some("bob@beta.example"),
    );
}

async fn cli(config: &Path, args: &[&str]) -> common::Outcome {
    let mut cmd = binary(config);
    cmd.args(args);
    run(cmd, "").await
}

#[tokio::test]
async fn logging_out_the_active_account_makes_the_next_one_active() {
    let dir = tempfile::tempdir().unwrap();
    two_accounts(dir.path());
    let (code, out, err) = cli(dir.path(), &["logout", "--local"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "Forgot bob@beta.example; its token was not revoked",
            "Now using alice@alpha.example"
        ]
    );
    let (code, token, err) = cli(dir.path(), &["token"]).await;
    assert_eq!((code, token.trim()), (0, "alice-token"), "{err}");

    let (code, out, err) = cli(dir.path(), &["logout", "--local", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["active"], serde_json::Value::Null);
    let (code, _, err) = cli(dir.path(), &["token"]).await;
    assert_eq!(code, 3);
    assert!(err.contains("not logged in"), "{err}");
}

#[tokio::test]
async fn logging_out_another_account_keeps_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    two_accounts(dir.path());
    let (code, out, err) = cli(dir.path(), &["logout", "--local", "alice"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "Forgot alice@alpha.example; its token was not revoked"
    );
    let (_, token, _) = cli(dir.path(), &["token"]).await;
    assert_eq!(token.trim(), "bob-token");
}

#[tokio::test]
async fn a_user_name_alone_names_its_account_and_near_misses_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    two_accounts(dir.path());
    let (code, out, err) = cli(dir.path(), &["use", "alice"]).await;
    assert_eq!(
        (code, out.trim()),
        (0, "Now using alice@alpha.example"),
        "{err}"
    );
    let (code, token, _) = cli(dir.path(), &["token", "--as", "@bob"]).await;
    assert_eq!((code, token.trim()), (0, "bob-token"));

    for (typed, meant) in [
        ("alcie", "alice@alpha.example"),
        ("alice@alpha.exampel", "alice@alpha.example"),
        ("bob@beta.exmaple", "bob@beta.example"),
    ] {
        let (code, out, err) = cli(dir.path(), &["use", typed]).await;
        assert_eq!((code, out.as_str()), (2, ""), "{typed}: {err}");
        assert_eq!(
            err.trim(),
            format!("mastodon-auth: no account {typed}: did you mean {meant}?"),
        );
    }
    let (code, _, err) = cli(dir.path(), &["use", "carol"]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("no account carol: `mastodon-auth accounts` lists them"),
        "{err}"
    );
}

#[tokio::test]
async fn a_user_name_on_two_instances_asks_which() {
    let dir = tempfile::tempdir().unwrap();
    seed_accounts(
        dir.path(),
        &[
            ("ada@a.example", "https://a.example", "t"),
            ("ada@b.example", "https://b.example", "t"),
        ],
        None,
    );
    let (code, _, err) = cli(dir.path(), &["use", "ada"]).await;
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "ada has accounts on several instances: say which, ada@a.example or ada@b.example"
        ),
        "{err}"
    );
    // No account is active: `token` says how to pick one instead of "not logged in".
    let (code, _, err) = cli(dir.path(), &["token"]).await;
    assert_eq!(code, 3);
    assert!(
        err.contains("no account is active: `mastodon-auth use ACCOUNT` picks one of ada@a.example or ada@b.example"),
        "{err}"
    );
}

#[tokio::test]
async fn a_mistyped_subcommand_gets_the_one_that_was_meant() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = cli(dir.path(), &["statsu"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("similar subcommand exists: 'status'"), "{err}");
}
