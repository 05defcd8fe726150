//! Revocation, verification, userinfo, persistence, and the builder's validation.

mod support;

use mastodon_auth_core::{ClientCredentials, Error, Mastodon, TransportError};
use support::{Recorded as _, Script, cassette};

async fn logged_in(script: &Script) -> Mastodon {
    script
        .builder("http://localhost:3000")
        .client(
            "__MASTODON_PY_TEST_CLIENT_ID",
            "__MASTODON_PY_TEST_CLIENT_SECRET",
        )
        .access_token("__MASTODON_PY_TEST_ACCESS_TOKEN_3")
        .allow_http(true)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn revoke_sends_the_recorded_body_and_forgets_the_token() {
    let recorded = cassette("mastodon-pre-4.4/test_zzz_revoke.yaml");
    let script = Script::new();
    script.then(recorded[2].answer()).then(recorded[3].answer());
    let client = logged_in(&script).await;
    client.revoke_access_token().await.unwrap();
    let seen = &script.seen()[1];
    assert_eq!(
        (seen.method.as_str(), seen.url.as_str()),
        ("POST", "http://localhost:3000/oauth/revoke")
    );
    assert_eq!(
        Some(seen.body.as_str()),
        recorded[3].request.body.as_deref()
    );
    assert_eq!(
        seen.header("authorization").as_deref(),
        Some("Bearer __MASTODON_PY_TEST_ACCESS_TOKEN_3")
    );
    assert!(seen.headers["authorization"].is_sensitive());
    assert_eq!(client.access_token(), None);
    assert_eq!(
        client.client_credentials().map(|c| c.id),
        Some("__MASTODON_PY_TEST_CLIENT_ID".into())
    );
    let err = client.revoke_access_token().await.unwrap_err();
    assert!(
        matches!(err, Error::NotLoggedIn) && err.is_authentication(),
        "{err:?}"
    );
}

#[tokio::test]
async fn revoke_refused_by_the_server_keeps_the_token() {
    let script = Script::new();
    script.json(404, "{}");
    script.json(403, r#"{"error":"unauthorized_client","error_description":"You are not authorized to revoke this token"}"#);
    let client = logged_in(&script).await;
    let err = client.revoke_access_token().await.unwrap_err();
    assert_eq!(err.api().unwrap().status, 403);
    assert!(client.access_token().is_some());
}

#[tokio::test]
async fn verify_credentials_parses_recorded_answers_and_remembers_the_account() {
    let script = Script::new();
    script.then(cassette("mastodon-4.7.3/test_verify_credentials.yaml")[0].answer());
    script.then(cassette("mastodon-4.7.3/test_app_verify_credentials.yaml")[0].answer());
    let client = logged_in(&script).await;
    let account = client.account_verify_credentials().await.unwrap();
    assert_eq!(
        (account.id.as_str(), account.acct.as_str()),
        ("117440810532227399", "mastodonpy_test")
    );
    assert_eq!(
        client.account().unwrap().to_string(),
        "mastodonpy_test@localhost:3000"
    );
    let app = client.app_verify_credentials().await.unwrap();
    assert_eq!(app.name, "Mastodon.py test suite");
    let seen = script.seen();
    assert_eq!(
        seen[0].url,
        "http://localhost:3000/api/v1/accounts/verify_credentials"
    );
    assert_eq!(
        seen[1].url,
        "http://localhost:3000/api/v1/apps/verify_credentials"
    );
}

#[tokio::test]
async fn invalid_and_revoked_tokens_are_unauthorized() {
    let recorded = cassette("mastodon-4.7.3/test_home_tl_anonymous_throws.yaml");
    let revoked = cassette("mastodon-pre-4.4/test_zzz_revoke.yaml");
    let script = Script::new();
    script.then(recorded[0].answer()).then(revoked[5].answer());
    let client = logged_in(&script).await;
    for expected in [
        "The access token is invalid",
        "アクセストークンは取り消されています",
    ] {
        let err = client.account_verify_credentials().await.unwrap_err();
        assert!(err.is_unauthorized() && err.is_authentication());
        assert_eq!(err.api().unwrap().error.as_deref(), Some(expected));
        assert!(
            err.to_string()
                .ends_with(&format!("401 Unauthorized: {expected}")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn status_mapping_follows_mastodon_py() {
    use mastodon_auth_core::ApiErrorKind::*;
    for (status, kind) in [
        (404, NotFound),
        (401, Unauthorized),
        (500, InternalServerError),
        (502, BadGateway),
        (503, ServiceUnavailable),
        (504, GatewayTimeout),
        (501, ServerError),
        (507, ServerError),
        (400, Other),
        (403, Other),
        (410, Other),
        (422, Other),
        (599, Other),
    ] {
        let script = Script::new();
        script.reply(
            status,
            "<html>error page</html>",
            &[("content-type", "text/html")],
        );
        let client = logged_in(&script).await;
        let err = client.app_verify_credentials().await.unwrap_err();
        assert_eq!(err.api().unwrap().kind(), kind, "{status}");
        assert_eq!(err.is_server_error(), status >= 500);
    }
    let script = Script::new();
    script.json(404, "");
    let err = logged_in(&script)
        .await
        .app_verify_credentials()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("404 Not Found: Endpoint not found."),
        "{err}"
    );
}

#[tokio::test]
async fn userinfo_uses_the_named_endpoint_without_rate_limit() {
    let script = Script::new();
    script.json(
        200,
        r#"{"userinfo_endpoint":"https://id.social.example/oauth/userinfo/"}"#,
    );
    script.json(200, r#"{"iss":"https://social.example/","sub":"https://social.example/users/alice","name":"Alice","preferred_username":"alice","profile":"https://social.example/@alice","picture":"https://social.example/a.png"}"#);
    let client = script
        .builder("social.example")
        .access_token("T")
        .build()
        .await
        .unwrap();
    let info = client.oauth_userinfo().await.unwrap();
    assert_eq!(info.preferred_username.as_deref(), Some("alice"));
    assert_eq!(
        script.seen()[1].url,
        "https://id.social.example/oauth/userinfo"
    );
}

#[tokio::test]
async fn persistable_credentials_need_a_token_and_the_app() {
    let script = Script::new();
    let client = script.builder("social.example").build().await.unwrap();
    assert!(matches!(
        client.persistable_login_credentials(),
        Err(Error::NotLoggedIn)
    ));
    let client = script
        .builder("social.example")
        .access_token("T")
        .build()
        .await
        .unwrap();
    let err = client.persistable_login_credentials().unwrap_err();
    assert!(
        matches!(err, Error::MissingClientCredentials { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "keeping the login needs the app's client id and secret: register an app (create_app) or configure one"
    );
    let client = script
        .builder("social.example/")
        .client("C", "S")
        .access_token("T")
        .build()
        .await
        .unwrap();
    let creds = client.persistable_login_credentials().unwrap();
    assert_eq!(creds.instance.as_str(), "https://social.example");
    assert_eq!(creds.access_token.expose(), "T");
    assert_eq!(creds.client, Some(ClientCredentials::new("C", "S")));
}

#[tokio::test]
async fn builder_validates_in_mastodon_py_order() {
    let script = Script::new();
    let err = Mastodon::builder("")
        .transport(script.clone())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidUrl(mastodon_auth_core::InstanceUrlError {
                problem: mastodon_auth_core::UrlProblem::Empty,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("instance URL is required"),
        "{err}"
    );
    // A builder without a transport has no `build`: MastodonBuilder's compile_fail doctest.
    let err = script
        .builder("social.example")
        .mastodon_version("banana")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Version(mastodon_auth_core::VersionError::Unparsable(e)) if e.version == "banana"
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "could not parse the version \"banana\"");
    let err = script
        .builder("social.example")
        .user_agent("bad\nagent")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Config(mastodon_auth_core::ConfigError::UserAgent { user_agent })
                if user_agent == "bad\nagent"
        ) && err.is_invalid_input(),
        "{err:?}"
    );
    assert_eq!(
        "fancy"
            .parse::<mastodon_auth_core::VersionCheckMode>()
            .unwrap_err()
            .to_string(),
        r#"invalid version check mode "fancy": use created, changed or none"#
    );
    let err = "misskey"
        .parse::<mastodon_auth_core::FeatureSet>()
        .unwrap_err();
    assert_eq!((err.option, err.given.as_str()), ("feature set", "misskey"));
    assert_eq!(
        err.to_string(),
        r#"invalid feature set "misskey": use mainline, fedibird or pleroma"#
    );
    assert!(Error::from(err).is_invalid_input());
    assert!(script.seen().is_empty());
}

#[tokio::test]
async fn language_goes_into_queries_and_bodies() {
    let script = Script::new();
    script
        .json(200, r#"{"name":"x"}"#)
        .json(200, r#"{"name":"x"}"#)
        .json(404, "{}");
    script.json(200, r#"{"access_token":"T","scope":"read"}"#);
    let client = script
        .builder("social.example")
        .client("C", "S")
        .access_token("T")
        .language("de")
        .build()
        .await
        .unwrap();
    client.app_verify_credentials().await.unwrap();
    assert_eq!(
        script.seen()[0].url,
        "https://social.example/api/v1/apps/verify_credentials?lang=de"
    );
    client.set_language(None);
    client.app_verify_credentials().await.unwrap();
    assert_eq!(
        script.seen()[1].url,
        "https://social.example/api/v1/apps/verify_credentials"
    );
    client.set_language(Some("ja"));
    let grant = mastodon_auth_core::LoginGrant::ClientCredentials {
        scopes: "read".parse().unwrap(),
    };
    client.log_in(grant).await.unwrap();
    assert!(
        script.seen()[3].body.ends_with("&scope=read&lang=ja"),
        "{}",
        script.seen()[3].body
    );
}

#[tokio::test]
async fn request_timeout_travels_with_every_request() {
    let transport = |req: http::Request<bytes::Bytes>| async move {
        let t = req
            .extensions()
            .get::<mastodon_auth_core::RequestTimeout>()
            .copied();
        assert_eq!(
            t,
            Some(mastodon_auth_core::RequestTimeout(
                std::time::Duration::from_secs(7)
            ))
        );
        Err::<http::Response<bytes::Bytes>, _>(
            TransportError::timeout(mastodon_auth_core::TimeoutPhase::Response)
                .with_after(std::time::Duration::from_secs(7)),
        )
    };
    let client = Mastodon::builder("social.example")
        .request_timeout(std::time::Duration::from_secs(7))
        .transport(transport)
        .build()
        .await
        .unwrap();
    let err = client.app_verify_credentials().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not complete request: timed out after 7.0 s while waiting for the response"
    );
}

#[tokio::test]
async fn recorded_account_answers_of_older_servers_parse_too() {
    let recorded = cassette("mastodon-pre-4.4/test_log_in_password_to_file.yaml");
    let answers: Vec<_> = recorded
        .iter()
        .filter(|i| {
            i.request
                .path_and_query()
                .starts_with("/api/v1/accounts/verify_credentials")
                && i.response.status == 200
        })
        .collect();
    assert!(!answers.is_empty(), "no recorded verify_credentials answer");
    for answer in answers {
        let script = Script::new();
        script.then(answer.answer());
        let account = logged_in(&script).await.account_verify_credentials().await;
        let account = account.expect("a recorded account parses");
        assert!(!account.id.is_empty() && !account.username.is_empty());
        assert_eq!(account.json()["acct"], account.acct.as_str());
    }
}

#[tokio::test]
async fn account_answers_that_are_not_accounts_are_malformed_responses() {
    let deep = format!(
        r#"{{"id":"1","username":"a","acct":"a","url":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    for body in [
        "",
        "{}",
        "[]",
        "<html>nope</html>",
        r#"{"id":"1","username":"a""#,
        r#"{"id":true,"username":"a","acct":"a"}"#,
        r#"{"id":"1","id":"2","username":"a","acct":"a"}"#,
        r#"{"id":"1","username":"a","acct":"a","display_name":null}"#,
        r#"{"id":"1","username":"a","acct":"a"} trailing"#,
        &deep,
    ] {
        let script = Script::new();
        script.json(200, body);
        let err = logged_in(&script)
            .await
            .account_verify_credentials()
            .await
            .expect_err("not an account");
        assert!(
            matches!(err, Error::MalformedResponse(_)),
            "{}: {err:?}",
            &body[..body.len().min(60)]
        );
    }
}
