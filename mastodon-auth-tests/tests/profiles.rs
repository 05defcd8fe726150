//! What changes between the server profiles.

mod common;

use std::time::Duration;

use common::{RawClient, Resp, register};
use mastodon_auth_tests::{Approval, LocalInstance, Profile};

const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

async fn start(profile: Profile) -> (LocalInstance, RawClient) {
    let instance = LocalInstance::builder()
        .profile(profile)
        .https(false)
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), "");
    (instance, c)
}

async fn password(c: &RawClient, id: &str, secret: &str, user: &str, pw: &str) -> Resp {
    c.post_form(
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", pw),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "read"),
        ],
        None,
    )
    .await
}

fn keys(r: &Resp) -> Vec<String> {
    match common::shape(&r.text()) {
        common::Shape::Object(f) => f.into_iter().map(|(k, _)| k).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn current_has_no_password_grant_and_serves_userinfo() {
    let (instance, c) = start(Profile::Current).await;
    let (id, secret) = register(&c, OOB, "read").await;
    let user = instance.user().clone();
    let r = password(&c, &id, &secret, &user.email, &user.password).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let meta = c
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json();
    assert_eq!(
        meta["grant_types_supported"],
        serde_json::json!(["authorization_code", "client_credentials"])
    );
    assert!(meta["userinfo_endpoint"].is_string());
    let v1 = c.get("/api/v1/instance/", None).await;
    assert_eq!(v1.header("deprecation"), Some("@1668384000"));
}

#[tokio::test]
async fn mastodon_4_3_offers_the_password_grant_and_no_userinfo() {
    let (instance, c) = start(Profile::Mastodon4_3).await;
    let (id, secret) = register(&c, OOB, "read").await;
    let user = instance.user().clone();
    let ok = password(&c, &id, &secret, &user.email, &user.password).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.header("pragma").is_none());
    let token = ok.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let bad = password(&c, &id, &secret, &user.email, "wrong").await;
    assert_eq!(
        (bad.status, bad.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let by_name = password(&c, &id, &secret, &user.username, &user.password).await;
    assert_eq!(by_name.status, 400, "Mastodon signs in by e-mail only");

    let meta = c
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json();
    assert_eq!(
        meta["grant_types_supported"],
        serde_json::json!(["authorization_code", "password", "client_credentials"])
    );
    assert!(meta.get("userinfo_endpoint").is_none());
    assert_eq!(meta["scopes_supported"].as_array().map(Vec::len), Some(45));
    assert_eq!(c.get("/oauth/userinfo", Some(&token)).await.status, 404);

    let app = c
        .post_form(
            "/api/v1/apps",
            &[("client_name", "x"), ("redirect_uris", OOB)],
            None,
        )
        .await;
    assert!(!keys(&app).contains(&"client_secret_expires_at".to_owned()));
    let bad_scope = c
        .post_form(
            "/api/v1/apps",
            &[
                ("client_name", "x"),
                ("redirect_uris", OOB),
                ("scopes", "hoge"),
            ],
            None,
        )
        .await;
    assert_eq!(
        bad_scope.text(),
        r#"{"error":"Validation failed: Scopes doesn't match configured on the server."}"#
    );
    let v2 = c.get("/api/v2/instance", None).await.json();
    assert_eq!(
        (
            v2["version"].as_str(),
            v2["api_versions"]["mastodon"].as_u64()
        ),
        (Some("4.3.0"), Some(2))
    );
}

#[tokio::test]
async fn mastodon_4_2_has_no_metadata_and_ignores_pkce() {
    let (instance, c) = start(Profile::Mastodon4_2).await;
    assert_eq!(
        c.get("/.well-known/oauth-authorization-server", None)
            .await
            .status,
        404
    );
    let app = c
        .post_form(
            "/api/v1/apps",
            &[("client_name", "x"), ("redirect_uris", OOB)],
            None,
        )
        .await;
    assert_eq!(
        keys(&app),
        [
            "id",
            "name",
            "website",
            "redirect_uri",
            "client_id",
            "client_secret",
            "vapid_key"
        ]
    );
    let j = app.json();
    let (id, secret) = (
        j["client_id"].as_str().expect("id"),
        j["client_secret"].as_str().expect("s"),
    );
    let url = format!(
        "{}/oauth/authorize?response_type=code&client_id={id}&redirect_uri={OOB}&code_challenge=x&code_challenge_method=plain",
        instance.base_url()
    );
    let Ok(Approval::OutOfBand { code }) = instance.approve(&url) else {
        panic!("PKCE parameters are ignored on 4.2");
    };
    let r = c
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", OOB),
                ("client_id", id),
                ("client_secret", secret),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v2 = c.get("/api/v2/instance", None).await.json();
    assert_eq!(v2["version"], "4.2.0");
    assert!(v2.get("api_versions").is_none());
    // Arrays of redirect URIs arrived in 4.3.
    let arr = c
        .post_form(
            "/api/v1/apps",
            &[("client_name", "x"), ("redirect_uris[]", OOB)],
            None,
        )
        .await;
    assert_eq!(arr.status, 422);
}

#[tokio::test]
async fn pleroma_tokens_expire_and_refresh_with_rotation() {
    let instance = LocalInstance::builder()
        .profile(Profile::Pleroma)
        .https(false)
        .token_lifetime(Duration::from_secs(60))
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), "");
    let meta = c.get("/.well-known/oauth-authorization-server", None).await;
    assert_eq!(meta.status, 200);
    assert!(
        meta.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    let v1 = c.get("/api/v1/instance", None).await.json();
    assert_eq!(v1["version"], "2.7.2 (compatible; Pleroma 2.5.0)");
    assert_eq!(c.get("/api/v2/instance", None).await.status, 404);

    let (id, secret) = register(&c, OOB, "read").await;
    let user = instance.user().clone();
    let first = password(&c, &id, &secret, &user.username, &user.password).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let j = first.json();
    assert_eq!(j["expires_in"], 60);
    let access = j["access_token"].as_str().expect("access").to_owned();
    let refresh = j["refresh_token"].as_str().expect("refresh").to_owned();
    assert_eq!(
        c.get("/api/v1/accounts/verify_credentials", Some(&access))
            .await
            .status,
        200
    );

    instance.advance_clock(Duration::from_secs(61));
    let r = c
        .get("/api/v1/accounts/verify_credentials", Some(&access))
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, r#"{"error":"The access token expired"}"#)
    );

    let form = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", rt.to_owned()),
            ("client_id", id.clone()),
            ("client_secret", secret.clone()),
        ]
    };
    let pairs = form(&refresh);
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let second = c.post_form("/oauth/token", &refs, None).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let new_access = second.json()["access_token"]
        .as_str()
        .expect("a")
        .to_owned();
    assert_ne!(new_access, access);
    assert_eq!(
        c.get("/api/v1/accounts/verify_credentials", Some(&new_access))
            .await
            .status,
        200
    );
    let reuse = c.post_form("/oauth/token", &refs, None).await;
    assert_eq!(
        (reuse.status, reuse.json()["error"].as_str()),
        (400, Some("invalid_grant")),
        "rotated"
    );
}

#[tokio::test]
async fn version_can_be_overridden_for_parsing_tests() {
    let instance = LocalInstance::builder()
        .version("4.5.0-beta.1+glitch")
        .https(false)
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), "");
    assert_eq!(
        c.get("/api/v1/instance", None).await.json()["version"],
        "4.5.0-beta.1+glitch"
    );
    assert_eq!(
        c.get("/api/v2/instance/", None).await.json()["version"],
        "4.5.0-beta.1+glitch"
    );
}
