//! `create_app`: the exact request, and what each kind of answer becomes.

mod support;

use mastodon_auth_core::{Error, Scopes};
use support::{Recorded as _, Script, cassette, field_multiset};

#[tokio::test]
async fn create_app_sends_mastodon_py_fields_in_order() {
    let recorded = &cassette("mastodon-4.7.3/test_app_account_create.yaml")[0];
    let script = Script::new();
    script.then(recorded.answer());
    let client = script
        .builder("http://localhost:3000")
        .user_agent("mastodonpy")
        .build()
        .await
        .unwrap();
    let app = client
        .create_app("mastodon.py generated test app")
        .send()
        .await
        .unwrap();

    let seen = &script.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.url, "http://localhost:3000/api/v1/apps");
    // Byte for byte what Mastodon.py sent.
    assert_eq!(Some(seen.body.as_str()), recorded.request.body.as_deref());
    assert_eq!(
        seen.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen.header("user-agent").as_deref(), Some("mastodonpy"));
    assert_eq!(seen.header("authorization"), None);
    let answer: serde_json::Value = serde_json::from_str(&recorded.response.body).unwrap();
    assert_eq!(app.client_id, answer["client_id"].as_str().unwrap());
    assert_eq!(
        app.client_secret.expose(),
        answer["client_secret"].as_str().unwrap()
    );
    assert_eq!(
        client.client_credentials().map(|c| c.id),
        Some(app.client_id)
    );
    assert_eq!(
        field_multiset(&seen.form()),
        field_multiset(&recorded.request.form())
    );
}

#[tokio::test]
async fn create_app_joins_redirect_uris_with_newlines_and_adds_website() {
    let script = Script::new();
    script.json(200, r#"{"client_id":"C","client_secret":"S"}"#);
    let client = script
        .builder("social.example")
        .language("de")
        .build()
        .await
        .unwrap();
    client
        .create_app("Bot")
        .scopes("read write:statuses".parse().unwrap())
        .redirect_uris(vec![
            "https://a.example/cb".parse().unwrap(),
            "http://127.0.0.1/cb".parse().unwrap(),
        ])
        .website("https://a.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        script.seen()[0].body,
        "client_name=Bot&scopes=read+write%3Astatuses&redirect_uris=https%3A%2F%2Fa.example%2Fcb%0Ahttp%3A%2F%2F127.0.0.1%2Fcb&website=https%3A%2F%2Fa.example"
    );
}

#[tokio::test]
async fn create_app_422_is_an_api_error_with_the_server_message() {
    let script = Script::new();
    script.json(
        422,
        r#"{"error":"Validation failed: Application name can't be blank"}"#,
    );
    let client = script.builder("social.example").build().await.unwrap();
    let err = client.create_app("x").send().await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.status, 422);
    assert_eq!(
        api.error.as_deref(),
        Some("Validation failed: Application name can't be blank")
    );
    assert_eq!(
        err.to_string(),
        "POST /api/v1/apps: 422 Unprocessable Entity: Validation failed: Application name can't be blank"
    );
    assert_eq!(client.client_credentials(), None);
}

#[tokio::test]
async fn create_app_malformed_answers_are_typed_and_quote_no_secret() {
    for (body, problem) in [
        ("<html><body>Bad gateway</body></html>", "HTML"),
        (
            r#"{"client_id":"C","client_secret":"SECRET-VALUE"#,
            "truncated",
        ),
        (r#"{"client_id":"C"}"#, "missing field `client_secret`"),
        (
            r#"{"client_id":"C","client_secret":12345}"#,
            "a field has a value of the wrong type",
        ),
        ("", "empty"),
    ] {
        let script = Script::new();
        script.json(200, body);
        let client = script.builder("social.example").build().await.unwrap();
        let err = client.create_app("x").send().await.unwrap_err();
        assert!(matches!(err, Error::MalformedResponse(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(problem), "{body:?}: {text}");
        assert!(
            !text.contains("SECRET-VALUE") && !text.contains("12345"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn create_app_rejects_empty_name_without_a_request() {
    let script = Script::new();
    let client = script.builder("social.example").build().await.unwrap();
    assert!(matches!(
        client.create_app(" ").send().await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.create_app("x").redirect_uris(vec![]).send().await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(script.seen().is_empty());
}

#[tokio::test]
async fn create_app_network_failure_is_a_network_error() {
    let script = Script::new();
    script.then(Err(mastodon_auth_core::TransportError::connect(
        "connection refused",
    )
    .with_authority("social.example:443")));
    let client = script.builder("social.example").build().await.unwrap();
    let err = client
        .create_app("x")
        .scopes(Scopes::default())
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network(_)));
    assert!(
        err.to_string()
            .starts_with("could not complete request: could not connect to social.example:443")
    );
}
