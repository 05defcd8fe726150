//! One regression test per defect of the hardening review that core had a part in, each
//! named for its defect: invalid ports (4), control characters in account keys (2), a
//! redirect counted as a revocation (3), user info echoed in errors (12), and the smaller
//! messages (14: redirects, international host names).

mod support;

use mastodon_auth_core::{
    AccountKey, AccountKeyError, AccountKeyProblem, Error, InstanceUrl, InstanceUrlError, Mastodon,
    UrlProblem,
};
use support::Script;

fn norm(s: &str) -> String {
    InstanceUrl::parse(s).unwrap().as_str().to_owned()
}

async fn logged_in(script: &Script) -> Mastodon {
    script
        .builder("https://social.example")
        .client("CID", "CSEC")
        .access_token("TOKEN")
        .build()
        .await
        .unwrap()
}

#[test]
fn defect_4_invalid_ports_are_refused_before_anything_is_sent() {
    for port in [
        "99999", "-1", "65536", "18083x", "alert(1)", "", "0", "+80", " 80",
    ] {
        for base in [
            "http://127.0.0.1",
            "https://example.com",
            "http://[::1]",
            "example.com",
        ] {
            let input = format!("{base}:{port}");
            match InstanceUrl::parse(&input) {
                Err(InstanceUrlError {
                    problem: UrlProblem::Port(_) | UrlProblem::WhiteSpace,
                    ..
                }) => {}
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }
    assert_eq!(norm("http://127.0.0.1:65535"), "http://127.0.0.1:65535");
    assert_eq!(norm("http://127.0.0.1:1/sub"), "http://127.0.0.1:1/sub");
    assert_eq!(
        InstanceUrl::parse("http://localhost:3000").unwrap().port(),
        Some(3000)
    );
}

#[test]
fn defect_2_account_keys_refuse_control_and_bidi_characters() {
    for (input, control) in [
        ("al\u{1b}[31mice@127.0.0.1", true),
        ("alice\0@example.com", true),
        ("alice@exa\u{7f}mple.com", true),
        ("alice\u{85}@example.com", true),
        ("alice@example.com\u{9b}", true),
        ("\u{202e}ecila@example.com", false),
        ("alice@\u{2066}example.com", false),
        ("ali\u{200f}ce@example.com", false),
        ("alice\u{61c}@example.com", false),
    ] {
        match AccountKey::parse(input) {
            Err(AccountKeyError {
                problem: AccountKeyProblem::ControlCharacter(_),
                ..
            }) if control => {}
            Err(AccountKeyError {
                problem: AccountKeyProblem::BidiControl(_),
                ..
            }) if !control => {}
            other => panic!("{input:?}: {other:?}"),
        }
    }
    // The message shows the character escaped, never raw.
    let shown = AccountKey::parse("al\u{1b}[2Jice@x.example")
        .unwrap_err()
        .to_string();
    assert!(!shown.contains('\u{1b}'), "{shown}");
    let url = InstanceUrl::parse("https://example.com").unwrap();
    assert!(AccountKey::new("al\u{1b}ice", &url).is_err());
    assert!(AccountKey::new("\u{202e}alice", &url).is_err());
}

#[tokio::test]
async fn defect_3_a_redirect_from_the_revocation_endpoint_keeps_the_token() {
    for status in [301, 302, 303, 307, 308] {
        let script = Script::new();
        script.json(404, "{}");
        script.reply(
            status,
            "",
            &[(
                "location",
                "https://evil.example/landing?token=LEAKED-IN-LOCATION",
            )],
        );
        let client = logged_in(&script).await;
        let err = client.revoke_access_token().await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::UnexpectedRedirect { status: s, location_host: Some(host), .. }
                    if *s == status && host == "evil.example"
            ),
            "{err:?}"
        );
        let shown = err.to_string();
        assert_eq!(
            shown,
            format!("POST /oauth/revoke: unexpected redirect (HTTP {status}) to evil.example")
        );
        assert!(!shown.contains("LEAKED"), "{shown}");
        assert!(
            client.access_token().is_some(),
            "the token is kept on {status}"
        );
    }
}

#[tokio::test]
async fn defect_14_a_redirect_on_an_api_call_says_so() {
    let script = Script::new();
    script.reply(302, "", &[("location", "https://login.example/sign_in")]);
    let client = logged_in(&script).await;
    let err = client.account_verify_credentials().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "GET /api/v1/accounts/verify_credentials: unexpected redirect (HTTP 302) to login.example"
    );
    assert!(!err.to_string().contains("could not parse"), "{err}");
}

#[test]
fn defect_12_userinfo_is_never_echoed() {
    let err = InstanceUrl::parse("https://user:hunter2@example.com").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid instance URL \"https://user:***@example.com\": user names and passwords do not belong in the URL"
    );
    // Any message that repeats the URL hides the password, whatever else is wrong.
    for input in [
        "https://user:hunter2@exa mple.com",
        "https://user:hunter2@example.com:99999",
        "https://user:hunter2@example.com/?x=1",
    ] {
        let shown = InstanceUrl::parse(input).unwrap_err().to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

#[test]
fn defect_14_international_hosts_become_punycode() {
    let u = InstanceUrl::parse("https://bücher.example/").unwrap();
    assert_eq!(u.as_str(), "https://xn--bcher-kva.example");
    assert_eq!(u.host(), "xn--bcher-kva.example");
    assert_eq!(
        norm("BÜCHER.example:8443"),
        "https://xn--bcher-kva.example:8443"
    );
    let err = InstanceUrl::parse("https://xn--a.example\u{fffd}").unwrap_err();
    assert!(
        matches!(
            err,
            InstanceUrlError {
                problem: UrlProblem::Host(_),
                ..
            }
        ),
        "{err:?}"
    );
}
