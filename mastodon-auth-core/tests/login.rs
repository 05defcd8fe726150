//! `log_in` with every grant: exact bodies, grant checks, scope checks, errors, refresh.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use mastodon_auth_core::{
    AuthorizedCode, Error, LoginGrant, Mastodon, Password, RedirectUri, RefreshToken, Scopes,
    TransportError,
};
use support::{Recorded as _, Script, cassette, field_multiset};

const PRE_4_4_PASSWORD: &str = "mastodon-pre-4.4/test_log_in_password.yaml";

fn password_grant(scopes: &str) -> LoginGrant {
    LoginGrant::Password {
        username: "mastodonpy_test_2@localhost".into(),
        password: Password::new("5fc638e0e53eafd9c4145b6bb852667d"),
        scopes: scopes.parse().unwrap(),
    }
}

#[tokio::test]
async fn password_grant_matches_the_recorded_request() {
    let recorded = cassette(PRE_4_4_PASSWORD);
    let script = Script::new();
    script.then(recorded[0].answer()).then(recorded[1].answer());
    let client = script
        .builder("http://localhost:3000")
        .client(
            "__MASTODON_PY_TEST_CLIENT_ID",
            "__MASTODON_PY_TEST_CLIENT_SECRET",
        )
        .allow_http(true)
        .build()
        .await
        .unwrap();
    let token = client
        .log_in(password_grant("read write follow push"))
        .await
        .unwrap();
    assert_eq!(token.expose(), "__MASTODON_PY_TEST_ACCESS_TOKEN_3");
    assert_eq!(
        client.access_token().unwrap().expose(),
        "__MASTODON_PY_TEST_ACCESS_TOKEN_3"
    );

    let seen = &script.seen()[1];
    assert_eq!(
        (seen.method.as_str(), seen.url.as_str()),
        ("POST", "http://localhost:3000/oauth/token")
    );
    // Mastodon.py's field order, without its oauth_info junk.
    let keys: Vec<String> = seen.form().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "username",
            "password",
            "redirect_uri",
            "grant_type",
            "client_id",
            "client_secret",
            "scope"
        ]
    );
    assert_eq!(
        field_multiset(&seen.form()),
        field_multiset(&recorded[1].request.form())
    );
    assert_eq!(seen.header("authorization"), None);
}

#[tokio::test]
async fn password_grant_refused_on_servers_without_it() {
    let script = Script::new();
    script.then(cassette("mastodon-4.7.3/test_auth_request_url.yaml")[0].answer());
    for r in cassette("mastodon-4.7.3/test_verify_version.yaml") {
        script.then(r.answer());
    }
    let client = script
        .builder("http://localhost:3000")
        .client("C", "S")
        .allow_http(true)
        .build()
        .await
        .unwrap();
    let err = client.log_in(password_grant("read")).await.unwrap_err();
    match &err {
        Error::UnsupportedGrant { grant, .. } => assert_eq!(*grant, "password"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "Password flow is no longer supported in Mastodon 4.4.0 and later. Please use the code flow instead."
    );
    // Metadata, then the two instance requests; never the token endpoint.
    let paths: Vec<String> = script.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        [
            "/.well-known/oauth-authorization-server",
            "/api/v1/instance/",
            "/api/v2/instance/"
        ]
    );
}

#[tokio::test]
async fn wrong_password_is_an_authentication_error_with_the_server_words() {
    let recorded = cassette("mastodon-pre-4.4/test_log_in_password_incorrect.yaml");
    let script = Script::new();
    for r in &recorded {
        script.then(r.answer());
    }
    let client = script
        .builder("http://localhost:3000")
        .client("C", "S")
        .allow_http(true)
        .build()
        .await
        .unwrap();
    let err = client
        .log_in(password_grant("read write follow push"))
        .await
        .unwrap_err();
    assert!(err.is_authentication());
    let api = err.api().unwrap();
    assert_eq!(
        (api.status, api.error.as_deref()),
        (400, Some("invalid_grant"))
    );
    assert!(
        api.error_description
            .as_deref()
            .unwrap()
            .starts_with("The provided authorization grant is invalid")
    );
    assert!(!err.to_string().contains("hunter2"));
    assert_eq!(client.access_token(), None);
}

#[tokio::test]
async fn code_grant_body_and_unsupported_code_grant() {
    let script = Script::new();
    script.json(404, "{}");
    script.json(
        200,
        r#"{"access_token":"T","token_type":"Bearer","scope":"read write","created_at":1}"#,
    );
    let client = script
        .builder("social.example")
        .client("CID", "CSEC")
        .build()
        .await
        .unwrap();
    let code = AuthorizedCode::new(
        "CODE",
        "http://127.0.0.1:9/cb".parse().unwrap(),
        "read write".parse().unwrap(),
    );
    client
        .log_in(LoginGrant::AuthorizationCode(code))
        .await
        .unwrap();
    assert_eq!(
        script.seen()[1].body,
        "code=CODE&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&grant_type=authorization_code&client_id=CID&client_secret=CSEC&scope=read+write"
    );

    let script = Script::new();
    script.json(200, r#"{"grant_types_supported":["password"]}"#);
    let client = script
        .builder("social.example")
        .client("CID", "CSEC")
        .build()
        .await
        .unwrap();
    let code = AuthorizedCode::new("CODE", RedirectUri::OOB, Scopes::default());
    let err = client
        .log_in(LoginGrant::AuthorizationCode(code))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Authorization code flow is not supported by this instance. Please obtain a token in some other way."
    );
}

#[tokio::test]
async fn fewer_granted_scopes_fail_with_mastodon_py_message_but_keep_the_token() {
    let script = Script::new();
    script.json(404, "{}");
    script.json(
        200,
        r#"{"access_token":"T","token_type":"Bearer","scope":"read","created_at":1}"#,
    );
    let client = script
        .builder("social.example")
        .client("C", "S")
        .build()
        .await
        .unwrap();
    let err = client
        .log_in(LoginGrant::ClientCredentials {
            scopes: Scopes::default(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ScopeMismatch { .. }));
    assert_eq!(
        err.to_string(),
        "Granted scopes \"read read:accounts read:blocks read:favourites read:filters read:follows read:lists \
         read:mutes read:notifications read:search read:statuses read:bookmarks read:collections\" do not contain \
         all of the requested scopes \"read write follow push\"."
    );
    assert_eq!(client.access_token().unwrap().expose(), "T");
}

#[tokio::test]
async fn hierarchy_lets_read_cover_granular_requests() {
    let script = Script::new();
    script.json(404, "{}");
    script.json(
        200,
        r#"{"access_token":"T","token_type":"Bearer","scope":"read write","created_at":1}"#,
    );
    let client = script
        .builder("social.example")
        .client("C", "S")
        .build()
        .await
        .unwrap();
    let scopes: Scopes = "read:accounts write:statuses".parse().unwrap();
    client
        .log_in(LoginGrant::ClientCredentials { scopes })
        .await
        .unwrap();
    assert_eq!(
        script.seen()[1].body,
        "grant_type=client_credentials&client_id=C&client_secret=S&scope=read%3Aaccounts+write%3Astatuses"
    );
}

#[tokio::test]
async fn token_answers_that_are_not_tokens_are_typed_errors_without_secrets() {
    for body in [
        r#"{"token_type":"Bearer"}"#,
        r#"{"access_token":"SECRET-TOKEN","scope":"read","expires_in":"soon"}"#,
        r#"{"access_token":"SECRET-TOKEN"#,
        "<html>oops</html>",
    ] {
        let script = Script::new();
        script.json(404, "{}");
        script.json(200, body);
        let client = script
            .builder("social.example")
            .client("C", "S")
            .build()
            .await
            .unwrap();
        let err = client
            .log_in(LoginGrant::ClientCredentials {
                scopes: "read".parse().unwrap(),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MalformedResponse(_)),
            "{body}: {err:?}"
        );
        assert!(!err.to_string().contains("SECRET-TOKEN"), "{err}");
    }
}

#[tokio::test]
async fn log_in_without_client_credentials_is_refused_before_sending() {
    let script = Script::new();
    script.json(404, "{}");
    let client = script.builder("social.example").build().await.unwrap();
    let err = client
        .log_in(LoginGrant::ClientCredentials {
            scopes: Scopes::default(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingClientCredentials {
                needed_for: "logging in"
            }
        ),
        "{err:?}"
    );
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn token_endpoint_429_is_a_rate_limit_error_at_once() {
    let script = Script::new();
    script.json(404, "{}");
    script.reply(
        429,
        r#"{"error":"Too many requests"}"#,
        &[("x-ratelimit-remaining", "0")],
    );
    let client = script
        .builder("social.example")
        .client("C", "S")
        .build()
        .await
        .unwrap();
    let err = client
        .log_in(LoginGrant::ClientCredentials {
            scopes: Scopes::default(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimit(_)), "{err:?}");
    assert_eq!(script.seen().len(), 2);
}

/// Pleroma-family servers issue expiring tokens with refresh tokens: an expiring token is
/// refreshed once, however many tasks use the client at that moment.
#[tokio::test]
async fn expiring_tokens_are_refreshed_once_for_many_tasks() {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let counter = refreshes.clone();
    let transport = move |req: http::Request<Bytes>| {
        let counter = counter.clone();
        async move {
            let (status, body): (u16, String) = match req.uri().path() {
                "/.well-known/oauth-authorization-server" => (200, "<html></html>".into()),
                "/oauth/token" => {
                    let form = String::from_utf8(req.body().to_vec()).unwrap();
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    if form.contains("grant_type=password") {
                        (200, r#"{"access_token":"EXPIRED","refresh_token":"R0","expires_in":0,"scope":"read"}"#.into())
                    } else {
                        assert!(
                            form.contains("grant_type=refresh_token&client_id=C"),
                            "{form}"
                        );
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        (
                            200,
                            format!(
                                r#"{{"access_token":"FRESH{n}","refresh_token":"R-FRESH{n}","expires_in":3600,"scope":"read"}}"#
                            ),
                        )
                    }
                }
                _ => {
                    let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
                    assert_ne!(auth, "Bearer EXPIRED", "the expired token was used");
                    (
                        200,
                        r#"{"id":"1","username":"alice","acct":"alice"}"#.into(),
                    )
                }
            };
            Ok::<_, TransportError>(
                http::Response::builder()
                    .status(status)
                    .body(Bytes::from(body))
                    .unwrap(),
            )
        }
    };
    let client = Mastodon::builder("pleroma.example")
        .client("C", "S")
        .transport(transport)
        .build()
        .await
        .unwrap();
    client.log_in(password_grant("read")).await.unwrap();
    assert_eq!(client.refresh_token().unwrap(), RefreshToken::new("R0"));
    refreshes.store(0, Ordering::SeqCst);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.account_verify_credentials().await.map(|a| a.username) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "alice");
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1, "exactly one refresh");
    assert_eq!(client.access_token().unwrap().expose(), "FRESH0");
    assert_eq!(
        client.refresh_token().unwrap(),
        RefreshToken::new("R-FRESH0")
    );
}
