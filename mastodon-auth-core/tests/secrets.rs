//! No secret in `Debug`, in any error's `Display`, or in debug logs.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use mastodon_auth_core::{Error, LoginGrant, Password, Scopes};
use support::Script;

const SECRETS: &[&str] = &[
    "SECRET-CLIENT",
    "SECRET-TOKEN",
    "SECRET-PASSWORD",
    "SECRET-CODE",
    "SECRET-REFRESH",
];

fn assert_clean(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{s} leaked in: {text}");
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_output_and_logs_never_show_secrets() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let script = Script::new();
    script.json(404, "{}");
    script.json(
        200,
        r#"{"access_token":"SECRET-TOKEN","refresh_token":"SECRET-REFRESH","scope":"read","expires_in":3600}"#,
    );
    script.json(401, r#"{"error":"The access token is invalid"}"#);
    script.json(404, "{}");
    script.json(400, r#"{"error":"invalid_grant"}"#);
    let client = script
        .builder("social.example")
        .client("CID", "SECRET-CLIENT")
        .debug_requests(true)
        .build()
        .await
        .unwrap();
    let grant = LoginGrant::Password {
        username: "alice@example".into(),
        password: Password::new("SECRET-PASSWORD"),
        scopes: "read".parse().unwrap(),
    };
    client.log_in(grant).await.unwrap();
    let err = client.account_verify_credentials().await.unwrap_err();
    assert_clean(&err.to_string());
    assert_clean(&format!("{err:?}"));
    client.clear_caches();
    let code = mastodon_auth_core::AuthorizedCode::new(
        "SECRET-CODE",
        mastodon_auth_core::RedirectUri::OOB,
        Scopes::default(),
    );
    assert_clean(&format!("{code:?}"));
    let err = client
        .log_in(LoginGrant::AuthorizationCode(code))
        .await
        .unwrap_err();
    assert_clean(&err.to_string());
    assert_clean(&format!("{client:?}"));
    assert_clean(&format!(
        "{:?}",
        client.persistable_login_credentials().unwrap()
    ));
    assert_clean(&format!("{:?}", client.app_credentials().unwrap()));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("sending request") && logs.contains("/oauth/token"),
        "{logs}"
    );
    assert!(
        logs.contains("username=alice%40example"),
        "non-secret fields stay readable: {logs}"
    );
    assert_clean(&logs);
    // The wire did carry them, so the redaction is what kept them out.
    assert!(script.seen()[1].body.contains("SECRET-PASSWORD"));
}

#[test]
fn every_error_variant_displays_without_secrets() {
    let errors = [
        Error::AuthorizationRefused {
            error: "access_denied".into(),
            description: Some("The resource owner denied the request.".into()),
        },
        Error::StateMismatch,
        Error::InvalidArgument("x".into()),
        mastodon_auth_core::MastodonVersion::parse("v")
            .unwrap_err()
            .into(),
        Error::NotLoggedIn,
        Error::MissingClientCredentials {
            needed_for: "revoking a token",
        },
        Error::InvalidCallback,
        Error::NoStore,
    ];
    for e in errors {
        assert_clean(&e.to_string());
        assert_clean(&format!("{e:?}"));
    }
}
