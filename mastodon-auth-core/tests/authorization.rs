//! Discovery and the authorization URL: exact URLs, PKCE, state, fallbacks.

mod support;

use mastodon_auth_core::{AuthorizationRequest, Error, PkceVerifier, Scopes};
use support::{Recorded as _, Script, cassette, form_pairs};

const META_4_7: &str = "mastodon-4.7.3/test_auth_request_url.yaml";

fn query_of(url: &str) -> Vec<(String, String)> {
    form_pairs(url.split_once('?').unwrap().1)
}

#[tokio::test]
async fn url_uses_discovered_endpoint_with_state_and_pkce() {
    let script = Script::new();
    script.then(cassette(META_4_7)[0].answer());
    let client = script
        .builder("http://localhost:3000")
        .client("CID", "CSEC")
        .allow_http(true)
        .build()
        .await
        .unwrap();
    let AuthorizationRequest { url, pending, .. } =
        client.auth_request_url().build().await.unwrap();

    assert!(url.starts_with("http://localhost:3000/oauth/authorize?client_id=CID&response_type=code&redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob&scope=read+write+follow+push&state="), "{url}");
    let q = query_of(&url);
    let keys: Vec<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "client_id",
            "response_type",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method"
        ]
    );
    let state = &q[4].1;
    assert_eq!(state, pending.state().as_str());
    assert!(
        state.len() >= 22,
        "state must carry at least 128 bits: {state}"
    );
    assert_eq!(q[6].1, "S256");
    assert!(pending.uses_pkce());
    assert!(
        !url.contains("None") && !url.contains("force_login"),
        "{url}"
    );
    // The metadata request is anonymous and the only request made.
    let seen = script.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].url,
        "http://localhost:3000/.well-known/oauth-authorization-server"
    );
}

#[tokio::test]
async fn pkce_challenge_is_s256_of_the_verifier_sent_at_exchange() {
    let script = Script::new();
    script.then(cassette(META_4_7)[0].answer());
    script.json(
        200,
        r#"{"access_token":"T","token_type":"Bearer","scope":"read","created_at":1}"#,
    );
    let client = script
        .builder("http://localhost:3000")
        .client("CID", "CSEC")
        .allow_http(true)
        .build()
        .await
        .unwrap();
    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes("read".parse().unwrap())
        .build()
        .await
        .unwrap();
    let challenge = query_of(&url)
        .into_iter()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1;
    let code = pending
        .callback(&format!("?code=THE_CODE&state={}", query_of(&url)[4].1))
        .unwrap();
    client
        .log_in(mastodon_auth_core::LoginGrant::AuthorizationCode(code))
        .await
        .unwrap();
    let token_request = &script.seen()[1];
    let verifier = token_request
        .form()
        .into_iter()
        .find(|(k, _)| k == "code_verifier")
        .unwrap()
        .1;
    assert_eq!(PkceVerifier::new(verifier).s256_challenge(), challenge);
}

#[tokio::test]
async fn states_are_fresh_for_every_request() {
    let script = Script::new();
    script.json(404, r#"{"error":"Not Found"}"#);
    let client = script
        .builder("social.example")
        .client("CID", "CSEC")
        .build()
        .await
        .unwrap();
    let AuthorizationRequest { pending: a, .. } = client.auth_request_url().build().await.unwrap();
    let AuthorizationRequest { pending: b, .. } = client.auth_request_url().build().await.unwrap();
    assert_ne!(a.state(), b.state());
    // The 404 was remembered: one metadata request for both URLs.
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn without_metadata_falls_back_to_oauth_authorize_without_pkce() {
    for (status, body, ctype) in [
        (404, r#"{"error":"Not Found"}"#, "application/json"),
        (
            200,
            "<!DOCTYPE html><html><body>Akkoma</body></html>",
            "text/html",
        ),
        (
            200,
            r#"{"issuer": null, "authorization_endpoint": null}"#,
            "application/json",
        ),
    ] {
        let script = Script::new();
        script.reply(status, body, &[("content-type", ctype)]);
        let client = script
            .builder("https://social.example")
            .client("CID", "CSEC")
            .build()
            .await
            .unwrap();
        let AuthorizationRequest { url, pending, .. } = client
            .auth_request_url()
            .redirect_uri("http://127.0.0.1:4567/callback".parse().unwrap())
            .scopes("read write".parse().unwrap())
            .force_login(true)
            .language("de")
            .build()
            .await
            .unwrap();
        let expected = format!(
            "https://social.example/oauth/authorize?client_id=CID&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A4567%2Fcallback&scope=read+write&force_login=true&state={}&lang=de",
            pending.state().as_str()
        );
        assert_eq!(url, expected);
        assert!(!pending.uses_pkce());
    }
}

#[tokio::test]
async fn skip_server_info_makes_no_request() {
    let script = Script::new();
    let client = script
        .builder("social.example")
        .client("CID", "CSEC")
        .build()
        .await
        .unwrap();
    let AuthorizationRequest { url, .. } = client
        .auth_request_url()
        .skip_server_info(true)
        .build()
        .await
        .unwrap();
    assert!(url.starts_with("https://social.example/oauth/authorize?"));
    assert!(script.seen().is_empty());
}

/// Metadata naming every OAuth endpoint under `origin`.
fn metadata_under(origin: &str) -> String {
    format!(
        r#"{{"issuer":"{origin}/","authorization_endpoint":"{origin}/oauth/authorize","token_endpoint":"{origin}/oauth/token","revocation_endpoint":"{origin}/oauth/revoke","grant_types_supported":["authorization_code","client_credentials"],"code_challenge_methods_supported":["S256"]}}"#
    )
}

#[tokio::test]
async fn issue_11_a_plain_http_loopback_instance_works_end_to_end_without_a_flag() {
    let base = "http://127.0.0.1:18083";
    let script = Script::new();
    script
        .json(200, &metadata_under(base))
        .json(
            200,
            r#"{"access_token":"TOKEN","token_type":"Bearer","scope":"read","created_at":1}"#,
        )
        .json(200, r#"{"id":"1","username":"alice","acct":"alice"}"#)
        .json(200, "{}");
    let client = script
        .builder(base)
        .client("CID", "CSEC")
        .build()
        .await
        .unwrap();
    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .redirect_uri("http://127.0.0.1:4567/callback".parse().unwrap())
        .scopes("read".parse().unwrap())
        .build()
        .await
        .unwrap();
    assert!(
        url.starts_with(&format!("{base}/oauth/authorize?client_id=CID")),
        "{url}"
    );
    let code = pending
        .callback(&format!(
            "http://127.0.0.1:4567/callback?code=C&state={}",
            pending_state(&url)
        ))
        .unwrap();
    client
        .log_in(mastodon_auth_core::LoginGrant::AuthorizationCode(code))
        .await
        .unwrap();
    client.account_verify_credentials().await.unwrap();
    assert_eq!(client.account().unwrap().as_str(), "alice@127.0.0.1:18083");
    client.revoke_access_token().await.unwrap();
    let urls: Vec<String> = script.seen().into_iter().map(|s| s.url).collect();
    assert_eq!(
        urls,
        [
            format!("{base}/.well-known/oauth-authorization-server"),
            format!("{base}/oauth/token"),
            format!("{base}/api/v1/accounts/verify_credentials"),
            format!("{base}/oauth/revoke"),
        ]
    );
}

/// The `state` of an authorization URL.
fn pending_state(url: &str) -> String {
    query_of(url)
        .into_iter()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
}

#[tokio::test]
async fn issue_11_plain_http_endpoints_elsewhere_need_allow_http() {
    for allow in [false, true] {
        let script = Script::new();
        script.json(200, &metadata_under("http://example.com"));
        let client = script
            .builder("https://example.com")
            .client("CID", "CSEC")
            .allow_http(allow)
            .build()
            .await
            .unwrap();
        let result = client.auth_request_url().build().await;
        if allow {
            assert!(
                result
                    .unwrap()
                    .url
                    .starts_with("http://example.com/oauth/authorize?")
            );
        } else {
            let err = result.unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::UnsafeOAuthUrl { problem: mastodon_auth_core::UrlProblem::PlainHttp, url }
                        if url == "http://example.com/oauth/authorize"
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("allow_http(true)"), "{err}");
        }
        assert_eq!(
            script.seen().len(),
            1,
            "nothing is sent to the refused endpoint"
        );
    }
    // The recorded development server on http://localhost:3000 needs no flag either.
    let script = Script::new();
    script.then(cassette(META_4_7)[0].answer());
    let client = script
        .builder("http://localhost:3000")
        .client("CID", "CSEC")
        .build()
        .await
        .unwrap();
    let AuthorizationRequest { url, .. } = client.auth_request_url().build().await.unwrap();
    assert!(
        url.starts_with("http://localhost:3000/oauth/authorize?"),
        "{url}"
    );
}

#[tokio::test]
async fn metadata_server_errors_are_not_cached_but_network_errors_propagate() {
    let script = Script::new();
    script.reply(503, "<html>down</html>", &[("content-type", "text/html")]);
    script.then(cassette(META_4_7)[0].answer());
    script.then(Err(mastodon_auth_core::TransportError::other("offline")));
    let client = script
        .builder("http://localhost:3000")
        .allow_http(true)
        .build()
        .await
        .unwrap();
    assert!(
        client
            .oauth_authorization_server_info()
            .await
            .unwrap()
            .is_none()
    );
    let info = client
        .oauth_authorization_server_info()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.scopes_supported.as_ref().unwrap().len(), 47);
    assert!(info.supports_pkce_s256());
    assert_eq!(info.grant_listed("password"), Some(false));
    // Cached now; clear_caches makes the next call ask again, and that one fails.
    assert!(
        client
            .oauth_authorization_server_info()
            .await
            .unwrap()
            .is_some()
    );
    client.clear_caches();
    assert!(matches!(
        client.oauth_authorization_server_info().await,
        Err(Error::Network(_))
    ));
    assert_eq!(script.seen().len(), 3);
}

#[tokio::test]
async fn no_client_id_is_a_clear_error() {
    let script = Script::new();
    let client = script.builder("social.example").build().await.unwrap();
    let err = client
        .auth_request_url()
        .scopes(Scopes::default())
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingClientCredentials { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("needs the app's client id"),
        "{err}"
    );
}
