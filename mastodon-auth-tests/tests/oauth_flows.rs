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

const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

async fn setup(redirect: &str, scopes: &str) -> (LocalInstance, RawClient, String, String) {
    let instance = LocalInstance::start().await.expect("start");
    let c = RawClient::new(&instance.base_url(), &instance.ca_certificate_pem());
    let (id, secret) = register(&c, redirect, scopes).await;
    (instance, c, id, secret)
}

fn auth_url(instance: &LocalInstance, id: &str, redirect: &str, extra: &str) -> String {
    let redirect: String = form_urlencoded::byte_serialize(redirect.as_bytes()).collect();
    format!(
        "{}/oauth/authorize?response_type=code&client_id={id}&redirect_uri={redirect}{extra}",
        instance.base_url()
    )
}

fn oob_code(instance: &LocalInstance, url: &str) -> String {
    match instance.approve(url) {
        Ok(Approval::OutOfBand { code }) => code,
        other => panic!("expected an OOB code, got {other:?}"),
    }
}

async fn exchange(
    c: &RawClient,
    id: &str,
    secret: &str,
    code: &str,
    redirect: &str,
    verifier: Option<&str>,
) -> common::Resp {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("client_id", id),
        ("client_secret", secret),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    c.post_form("/oauth/token", &form, None).await
}

fn assert_oauth_error(r: &common::Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json()["error"], error, "{}", r.text());
    let www = r.header("www-authenticate").unwrap_or("");
    assert!(
        www.starts_with(&format!("Bearer realm=\"Doorkeeper\", error=\"{error}\"")),
        "{www}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn pkce_rejects_wrong_missing_and_unexpected_verifiers() {
    let (instance, c, id, secret) = setup(OOB, "read").await;
    let verifier = "correct-verifier-0123456789-0123456789-0123456789";
    let pkce = format!(
        "&code_challenge={}&code_challenge_method=S256",
        challenge(verifier)
    );

    let code = oob_code(&instance, &auth_url(&instance, &id, OOB, &pkce));
    let r = exchange(&c, &id, &secret, &code, OOB, None).await;
    assert_oauth_error(&r, 400, "invalid_request");
    assert_eq!(
        r.json()["error_description"],
        "Missing required parameter: code_verifier."
    );
    let r = exchange(&c, &id, &secret, &code, OOB, Some("wrong-verifier")).await;
    assert_oauth_error(&r, 400, "invalid_grant");
    // A failed verification does not burn the code.
    let r = exchange(&c, &id, &secret, &code, OOB, Some(verifier)).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // A verifier for a grant made without a challenge is an invalid grant.
    let plain = oob_code(&instance, &auth_url(&instance, &id, OOB, ""));
    let r = exchange(&c, &id, &secret, &plain, OOB, Some(verifier)).await;
    assert_oauth_error(&r, 400, "invalid_grant");

    // Only S256 is accepted at the authorization step.
    let err = instance
        .approve(&auth_url(
            &instance,
            &id,
            OOB,
            "&code_challenge=abc&code_challenge_method=plain",
        ))
        .expect_err("plain is refused");
    assert_eq!(err.error, "invalid_code_challenge_method");
    assert_eq!(err.description, "The code_challenge_method must be S256.");
    let err = instance
        .approve(&auth_url(&instance, &id, OOB, "&code_challenge=abc"))
        .expect_err("a challenge needs a method");
    assert_eq!(err.error, "invalid_code_challenge_method");
}

#[tokio::test]
async fn codes_are_single_use_and_expire_after_ten_minutes() {
    let (instance, c, id, secret) = setup(OOB, "read").await;
    let code = oob_code(&instance, &auth_url(&instance, &id, OOB, ""));
    assert_eq!(
        exchange(&c, &id, &secret, &code, OOB, None).await.status,
        200
    );
    let r = exchange(&c, &id, &secret, &code, OOB, None).await;
    assert_oauth_error(&r, 400, "invalid_grant");

    let late = oob_code(&instance, &auth_url(&instance, &id, OOB, ""));
    instance.advance_clock(std::time::Duration::from_secs(601));
    let r = exchange(&c, &id, &secret, &late, OOB, None).await;
    assert_oauth_error(&r, 400, "invalid_grant");
}

#[tokio::test]
async fn redirect_uri_matching_ignores_loopback_ports_but_not_localhost_ports() {
    let (instance, c, id, secret) =
        setup("http://127.0.0.1:1/cb\nhttp://localhost:8080/cb", "read").await;
    assert!(matches!(
        instance.approve(&auth_url(&instance, &id, "http://127.0.0.1:45678/cb", "")),
        Ok(Approval::Redirect(_))
    ));
    let err = instance
        .approve(&auth_url(&instance, &id, "http://localhost:9090/cb", ""))
        .expect_err("localhost port must match");
    assert_eq!(err.error, "invalid_redirect_uri");
    assert_eq!(err.description, "The redirect uri included is not valid.");
    assert_eq!(err.status, 400);

    // The token request must repeat the redirect URI of the authorization request.
    let Ok(Approval::Redirect(loc)) =
        instance.approve(&auth_url(&instance, &id, "http://localhost:8080/cb", ""))
    else {
        panic!("redirect expected");
    };
    let code = code_from(&loc);
    let r = exchange(&c, &id, &secret, &code, "http://127.0.0.1:1/cb", None).await;
    assert_oauth_error(&r, 400, "invalid_grant");
    let r = exchange(&c, &id, &secret, &code, "", None).await;
    assert_eq!(
        r.json()["error_description"],
        "Missing required parameter: redirect_uri."
    );
}

#[tokio::test]
async fn authorization_errors_come_in_doorkeeper_order() {
    let (instance, _c, id, _) = setup(OOB, "read write").await;
    let base = instance.base_url();
    let e = instance
        .approve(&format!("{base}/oauth/authorize?response_type=code"))
        .expect_err("");
    assert_eq!(e.description, "Missing required parameter: client_id.");
    let e = instance
        .approve(&format!(
            "{base}/oauth/authorize?client_id=nope&redirect_uri=x"
        ))
        .expect_err("");
    assert_eq!((e.error.as_str(), e.status), ("invalid_client", 401));
    let e = instance
        .approve(&format!(
            "{base}/oauth/authorize?client_id={id}&redirect_uri={OOB}"
        ))
        .expect_err("");
    assert_eq!(e.description, "Missing required parameter: response_type.");
    let e = instance
        .approve(&format!(
            "{base}/oauth/authorize?client_id={id}&redirect_uri={OOB}&response_type=token"
        ))
        .expect_err("");
    assert_eq!(e.error, "unsupported_response_type");
    // Scopes must be literal members of the app's scopes: no hierarchy.
    let e = instance
        .approve(&auth_url(&instance, &id, OOB, "&scope=read:accounts"))
        .expect_err("");
    assert_eq!(e.error, "invalid_scope");
    assert!(
        instance
            .approve(&auth_url(&instance, &id, OOB, "&scope=write"))
            .is_ok()
    );
}

#[tokio::test]
async fn deny_redirects_with_access_denied_or_answers_json_for_oob() {
    let (instance, _c, id, _) = setup(
        "https://app.example/cb?keep=1\nurn:ietf:wg:oauth:2.0:oob",
        "read",
    )
    .await;
    let Ok(Approval::Redirect(loc)) = instance.deny(&auth_url(
        &instance,
        &id,
        "https://app.example/cb?keep=1",
        "&state=s1",
    )) else {
        panic!("redirect expected");
    };
    assert_eq!(
        loc,
        "https://app.example/cb?keep=1&error=access_denied&error_description=The+resource+owner+or+authorization+server+denied+the+request.&state=s1"
    );
    match instance.deny(&auth_url(&instance, &id, OOB, "")) {
        Ok(Approval::OutOfBandDenied { status, body }) => {
            assert_eq!(status, 400);
            assert_eq!(
                body,
                r#"{"error":"access_denied","error_description":"The resource owner or authorization server denied the request."}"#
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn browser_without_session_is_sent_to_sign_in() {
    let (instance, c, id, _) = setup(OOB, "read").await;
    let path = format!("/oauth/authorize?response_type=code&client_id={id}&redirect_uri={OOB}");
    let r = c.get(&path, None).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(format!("{}/auth/sign_in", instance.base_url()).as_str())
    );
}

#[tokio::test]
async fn client_credentials_scopes_reuse_and_client_authentication() {
    let (_instance, c, id, secret) = setup(OOB, "read write follow").await;
    let cc = |scope: &'static str| {
        let (c, id, secret) = (c.clone(), id.clone(), secret.clone());
        async move {
            let mut form = vec![
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ];
            if !scope.is_empty() {
                form.push(("scope", scope));
            }
            c.post_form("/oauth/token", &form, None).await
        }
    };
    let a = cc("read write").await;
    let b = cc("write read").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json()["access_token"],
        b.json()["access_token"],
        "same scope set reuses"
    );
    assert_eq!(a.json()["created_at"], b.json()["created_at"]);
    let d = cc("").await;
    assert_eq!(d.json()["scope"], "read", "default is app scopes ∩ read");
    assert_ne!(d.json()["access_token"], a.json()["access_token"]);
    assert_oauth_error(&cc("read write push").await, 400, "invalid_scope");

    // Basic wins over body parameters, even when it is wrong.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let ok = c
        .send(
            "POST",
            "/oauth/token",
            &[
                ("authorization", &format!("Basic {basic}")),
                ("content-type", "application/json"),
            ],
            Some(r#"{"grant_type":"client_credentials","scope":"read"}"#),
        )
        .await
        .expect("send");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{id}:nope"));
    let r = c
        .send(
            "POST",
            "/oauth/token",
            &[
                ("authorization", &format!("Basic {wrong}")),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Some(&format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}"
            )),
        )
        .await
        .expect("send");
    assert_oauth_error(&r, 401, "invalid_client");

    // The grant type is checked before the client.
    let r = c
        .post_form(
            "/oauth/token",
            &[("grant_type", "password"), ("client_id", "x")],
            None,
        )
        .await;
    assert_oauth_error(&r, 400, "unsupported_grant_type");
    let r = c
        .post_form("/oauth/token", &[("client_id", "x")], None)
        .await;
    assert_oauth_error(&r, 400, "invalid_request");
    assert_eq!(
        r.json()["error_description"],
        "Missing required parameter: grant_type."
    );
}

#[tokio::test]
async fn revoke_requires_the_owning_client() {
    let (instance, c, id, secret) = setup(OOB, "read").await;
    let (other_id, other_secret) = register(&c, OOB, "read").await;
    let code = oob_code(&instance, &auth_url(&instance, &id, OOB, ""));
    let token = exchange(&c, &id, &secret, &code, OOB, None).await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let revoke = |cid: String, cs: String, tok: String| {
        let c = c.clone();
        async move {
            c.post_form(
                "/oauth/revoke",
                &[("client_id", &cid), ("client_secret", &cs), ("token", &tok)],
                None,
            )
            .await
        }
    };
    let forbidden = r#"{"error":"unauthorized_client","error_description":"You are not authorized to revoke this token"}"#;
    let r = revoke(other_id.clone(), other_secret.clone(), token.clone()).await;
    assert_eq!((r.status, r.text().as_str()), (403, forbidden));
    let r = revoke(id.clone(), "wrong".into(), "unknown".into()).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, forbidden),
        "client auth comes first"
    );
    let r = revoke(other_id, other_secret, "unknown".into()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "{}"));

    assert_eq!(
        c.get("/api/v1/apps/verify_credentials", Some(&token))
            .await
            .status,
        200
    );
    let r = revoke(id.clone(), secret.clone(), token.clone()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "{}"));
    let r = revoke(id, secret, token.clone()).await;
    assert_eq!(r.status, 200, "revoking twice is fine");
    let r = c.get("/api/v1/apps/verify_credentials", Some(&token)).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, r#"{"error":"The access token was revoked"}"#)
    );
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // One table of requests and the answers Mastodon gives them.
async fn api_checks_scopes_users_and_token_locations() {
    let (instance, c, id, secret) = setup(OOB, "read write profile").await;
    let cc = c
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "read"),
            ],
            None,
        )
        .await
        .json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = c
        .get("/api/v1/accounts/verify_credentials", Some(&cc))
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            422,
            r#"{"error":"This method requires an authenticated user"}"#
        )
    );
    assert_eq!(
        c.get("/api/v1/apps/verify_credentials", Some(&cc))
            .await
            .status,
        200
    );

    let code = oob_code(&instance, &auth_url(&instance, &id, OOB, "&scope=write"));
    let write_only = exchange(&c, &id, &secret, &code, OOB, None).await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = c
        .get("/api/v1/accounts/verify_credentials", Some(&write_only))
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            403,
            r#"{"error":"This action is outside the authorized scopes"}"#
        )
    );
    assert!(
        r.header("www-authenticate")
            .unwrap_or("")
            .contains("insufficient_scope")
    );

    let code = oob_code(&instance, &auth_url(&instance, &id, OOB, "&scope=read"));
    let read = exchange(&c, &id, &secret, &code, OOB, None).await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        c.get("/oauth/userinfo", Some(&read)).await.status,
        403,
        "userinfo needs profile"
    );
    let q = c
        .get(
            &format!("/api/v1/accounts/verify_credentials?access_token={read}"),
            None,
        )
        .await;
    assert_eq!(q.status, 200);
    let q = c
        .get(
            &format!("/api/v1/accounts/verify_credentials?bearer_token={read}"),
            None,
        )
        .await;
    assert_eq!(q.status, 200);
    let r = c
        .get("/api/v1/accounts/verify_credentials", Some("garbage"))
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, r#"{"error":"The access token is invalid"}"#)
    );

    let r = c.get("/no/such/path", None).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"error":"Not Found"}"#)
    );

    // The request log redacts secrets.
    let log = instance.requests();
    let token_req = log
        .iter()
        .find(|r| r.path == "/oauth/token")
        .expect("logged");
    assert_eq!(
        token_req.form("client_secret"),
        Some(mastodon_auth_tests::REDACTED)
    );
    assert_eq!(token_req.form("client_id"), Some(id.as_str()));
    let api_req = log
        .iter()
        .find(|r| r.path == "/api/v1/apps/verify_credentials")
        .expect("logged");
    assert_eq!(api_req.header("authorization"), Some("Bearer [redacted]"));
    let q_req = log
        .iter()
        .find(|r| r.query_param("access_token").is_some())
        .expect("logged");
    assert_eq!(
        q_req.query_param("access_token"),
        Some(mastodon_auth_tests::REDACTED)
    );
    assert!(!format!("{log:?}").contains(&secret));
}
