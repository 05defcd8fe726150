//! How the client drives its `RateLimiter`: API requests go through it, OAuth requests do not,
//! and `Verdict::Retry` resends. Uses the `mock` feature's mockall mocks.

mod support;

use mastodon_auth_core::mock::MockRateLimiter;
use mastodon_auth_core::{LoginGrant, RateLimitError, RateLimitKey, Verdict};
use mockall::Sequence;
use support::Script;

#[tokio::test]
async fn api_requests_are_paced_once_and_resent_on_the_limiters_word() {
    let mut limiter = MockRateLimiter::new();
    let mut seq = Sequence::new();
    let token_key = RateLimitKey::for_token(&"T".into());
    limiter
        .expect_before_request()
        .withf(move |k| *k == token_key)
        .times(1)
        .returning(|_| Ok(()));
    limiter
        .expect_after_response()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|_, status, info| {
            *status == 429
                && info
                    .as_ref()
                    .is_ok_and(|i| i.is_some_and(|i| i.remaining == Some(0)))
        })
        .returning(|_, _, _| Ok(Verdict::Retry));
    limiter
        .expect_after_response()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(Verdict::Accept));

    let script = Script::new();
    script.reply(
        429,
        r#"{"error":"Too many requests"}"#,
        &[
            ("x-ratelimit-limit", "300"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2026-10-14T19:05:00.020581Z"),
        ],
    );
    script.json(200, r#"{"name":"app"}"#);
    let client = script
        .builder("social.example")
        .access_token("T")
        .rate_limiter(limiter)
        .build()
        .await
        .unwrap();
    assert_eq!(client.app_verify_credentials().await.unwrap().name, "app");
    assert_eq!(script.seen().len(), 2);
}

#[tokio::test]
async fn limiter_refusals_stop_the_request_before_sending() {
    let mut limiter = MockRateLimiter::new();
    limiter
        .expect_before_request()
        .returning(|_| Err(RateLimitError::NoUsableReset));
    let script = Script::new();
    let client = script
        .builder("social.example")
        .access_token("T")
        .rate_limiter(limiter)
        .build()
        .await
        .unwrap();
    let err = client.app_verify_credentials().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Cannot pace requests because the server did not provide a usable rate limit reset time."
    );
    assert!(script.seen().is_empty());
}

#[tokio::test]
async fn oauth_requests_bypass_the_limiter() {
    let mut limiter = MockRateLimiter::new();
    limiter.expect_before_request().never();
    limiter.expect_after_response().never();
    let script = Script::new();
    script.json(404, "{}");
    script.json(200, r#"{"access_token":"T","scope":"read"}"#);
    let client = script
        .builder("social.example")
        .client("C", "S")
        .rate_limiter(limiter)
        .build()
        .await
        .unwrap();
    client
        .log_in(LoginGrant::ClientCredentials {
            scopes: "read".parse().unwrap(),
        })
        .await
        .unwrap();
}
