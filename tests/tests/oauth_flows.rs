//! Behaviour of the local instance's OAuth server, driven over HTTPS with a raw client.

mod common;

use base64::Engine as _;
use common::{RawClient, register};
use mastodon_auth_tests::{Approval, LocalInstance};
use sha2::{Digest, Sha256};

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn code_from(location: &str) -> String {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("redirect carries a code")
}

#[tokio::test]
async fn pkce_code_flow_issues_a_user_token_that_verifies() {
    let instance = LocalInstance::start().await.expect("start");
    let c = RawClient::new(&instance.base_url(), &instance.ca_certificate_pem());
    let redirect = "http://127.0.0.1:4000/cb";
    let (id, secret) = register(&c, redirect, "read write profile").await;
    let verifier = "a-very-long-verifier-string-with-enough-entropy-0123456789";
    let url = format!(
        "{}/oauth/authorize?response_type=code&client_id={id}&redirect_uri={}&scope=read+profile&state=xyz&code_challenge={}&code_challenge_method=S256",
        instance.base_url(),
        "http%3A%2F%2F127.0.0.1%3A5555%2Fcb",
        challenge(verifier)
    );
    let Ok(Approval::Redirect(location)) = instance.approve(&url) else {
        panic!("expected a redirect");
    };
    assert!(
        location.starts_with("http://127.0.0.1:5555/cb?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=xyz"), "{location}");
    let code = code_from(&location);
    assert_eq!(code.len(), 43);

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:5555/cb"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        ("code_verifier", verifier),
    ];
    let r = c.post_form("/oauth/token", &form, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let token = r.json()["access_token"].as_str().expect("token").to_owned();
    assert_eq!(r.json()["scope"], "read profile");

    let me = c
        .get("/api/v1/accounts/verify_credentials", Some(&token))
        .await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["username"], "alice");
    let info = c.get("/oauth/userinfo", Some(&token)).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["preferred_username"], "alice");

    // Single use: the same code again is an invalid grant.
    let again = c.post_form("/oauth/token", &form, None).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
    instance.shutdown().await;
}
