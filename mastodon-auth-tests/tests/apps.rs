//! `POST /api/v1/apps`: validation messages, encodings and the answer's shape.

mod common;

use common::RawClient;
use mastodon_auth_tests::LocalInstance;

async fn post(c: &RawClient, form: &[(&str, &str)]) -> (u16, String) {
    let r = c.post_form("/api/v1/apps", form, None).await;
    (r.status, r.text())
}

fn err(msg: &str) -> (u16, String) {
    (422, format!(r#"{{"error":"Validation failed: {msg}"}}"#))
}

#[tokio::test]
async fn validation_errors_use_mastodon_wording_and_order() {
    let instance = LocalInstance::builder()
        .app_registration_limit(100, std::time::Duration::from_secs(600))
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), &instance.ca_certificate_pem());
    let oob = "urn:ietf:wg:oauth:2.0:oob";
    assert_eq!(
        post(&c, &[]).await,
        err("Application name can't be blank, Redirect URI can't be blank")
    );
    assert_eq!(
        post(&c, &[("client_name", "x"), ("redirect_uris", "/cb")]).await,
        err("Redirect URI must be an absolute URI.")
    );
    assert_eq!(
        post(
            &c,
            &[("client_name", "x"), ("redirect_uris", "https://a/cb#x")]
        )
        .await,
        err("Redirect URI cannot contain a fragment.")
    );
    assert_eq!(
        post(
            &c,
            &[
                ("client_name", "x"),
                ("redirect_uris", "javascript:alert(1)")
            ]
        )
        .await,
        err("Redirect URI is forbidden by the server., Redirect URI must specify a scheme.")
    );
    assert_eq!(
        post(
            &c,
            &[
                ("client_name", "x"),
                ("redirect_uris", oob),
                ("scopes", "read hoge")
            ]
        )
        .await,
        err("Scopes doesn't match those configured on the server.")
    );
    let long = "n".repeat(61);
    assert_eq!(
        post(&c, &[("client_name", &long), ("redirect_uris", oob)]).await,
        err("Application name is too long (maximum is 60 characters)")
    );
    assert_eq!(
        post(
            &c,
            &[
                ("client_name", "x"),
                ("redirect_uris", oob),
                ("website", "notaurl")
            ]
        )
        .await,
        err("Application website is not a valid URL")
    );
    let (status, body) = post(&c, &[("client_name", "x"), ("redirect_uris", "\n")]).await;
    assert_eq!((status, body), err("Redirect URI can't be blank"));
}

#[tokio::test]
async fn answer_has_4_4_key_order_and_accepts_arrays_and_json() {
    let instance = LocalInstance::start().await.expect("start");
    let c = RawClient::new(&instance.base_url(), &instance.ca_certificate_pem());
    let r = c
        .send(
            "POST",
            "/api/v1/apps",
            &[("content-type", "application/json")],
            Some(r#"{"client_name":"j","redirect_uris":["https://a.example/cb","http://127.0.0.1/cb"],"scopes":"read read write"}"#),
        )
        .await
        .expect("send");
    assert_eq!(r.status, 200, "{}", r.text());
    let keys: Vec<String> = match common::shape(&r.text()) {
        common::Shape::Object(fields) => fields.into_iter().map(|(k, _)| k).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "website",
            "scopes",
            "redirect_uris",
            "vapid_key",
            "redirect_uri",
            "client_id",
            "client_secret",
            "client_secret_expires_at"
        ]
    );
    let j = r.json();
    assert_eq!(
        j["redirect_uri"],
        "https://a.example/cb\nhttp://127.0.0.1/cb"
    );
    assert_eq!(j["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(j["client_secret_expires_at"], 0);
    assert_eq!(j["website"], serde_json::Value::Null);
    assert_eq!(j["client_id"].as_str().map(str::len), Some(43));
    assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("4"));

    // A `scopes[]` list is dropped by Rails' permit (Mastodon bug #30152): default `read`.
    let r = c
        .post_form(
            "/api/v1/apps",
            &[
                ("client_name", "x"),
                ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob"),
                ("scopes[]", "write"),
            ],
            None,
        )
        .await;
    assert_eq!(r.json()["scopes"], serde_json::json!(["read"]));
}
