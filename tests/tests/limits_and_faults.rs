//! Rate-limit headers and 429s, and every injectable fault.

mod common;

use std::time::Duration;

use common::RawClient;
use mastodon_auth_tests::{Fault, LocalInstance, Profile};

fn is_iso_micros(s: &str) -> bool {
    s.len() == 27 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn small_limit_counts_down_then_answers_429_without_retry_after() {
    let instance = LocalInstance::builder()
        .https(false)
        .rate_limit(3, Duration::from_secs(300))
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), "");
    for expected in ["2", "1", "0"] {
        let r = c.get("/api/v1/instance", None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some(expected));
        let reset = r.header("x-ratelimit-reset").unwrap_or("");
        assert!(is_iso_micros(reset), "{reset}");
        // Aligned to the 5-minute window: minutes divisible by 5, seconds zero.
        let minute: u32 = reset[14..16].parse().expect("minute");
        assert_eq!((minute % 5, &reset[17..19]), (0, "00"), "{reset}");
    }
    let r = c.get("/api/v1/instance", None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), r#"{"error":"Too many requests"}"#);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
    assert!(r.header("retry-after").is_none());
    // Non-API paths are not throttled.
    assert_eq!(
        c.get("/.well-known/oauth-authorization-server", None)
            .await
            .status,
        200
    );
    // A new window starts afresh.
    instance.advance_clock(Duration::from_secs(300));
    assert_eq!(c.get("/api/v1/instance", None).await.status, 200);
}

#[tokio::test]
async fn app_registrations_are_throttled_at_five_per_ten_minutes() {
    let instance = LocalInstance::builder()
        .https(false)
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), "");
    let form = [
        ("client_name", "x"),
        ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob"),
    ];
    for remaining in ["4", "3", "2", "1", "0"] {
        let r = c.post_form("/api/v1/apps", &form, None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some(remaining));
    }
    let r = c.post_form("/api/v1/apps", &form, None).await;
    assert_eq!((r.status, r.header("x-ratelimit-limit")), (429, Some("5")));
}

#[tokio::test]
async fn gotosocial_reports_reset_as_epoch_seconds() {
    let instance = LocalInstance::builder()
        .profile(Profile::GoToSocial)
        .https(false)
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), "");
    let r = c.get("/api/v1/instance", None).await;
    let reset = r.header("x-ratelimit-reset").unwrap_or("");
    let secs: u64 = reset
        .parse()
        .unwrap_or_else(|_| panic!("not an integer: {reset}"));
    assert_eq!(secs % 300, 0);
    assert_eq!(r.json()["version"], "0.17.3");
}

#[tokio::test]
async fn html_malformed_oversized_and_429_faults_hit_only_their_requests() {
    let instance = LocalInstance::builder()
        .https(false)
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), "");
    instance.inject_on("/api/v2/instance", Fault::HtmlError(502), 2);
    instance.inject_on("/api/v1/instance", Fault::MalformedJson, 1);
    // Other paths are untouched by path-specific faults.
    assert_eq!(
        c.get("/.well-known/oauth-authorization-server", None)
            .await
            .status,
        200
    );
    for _ in 0..2 {
        let r = c.get("/api/v2/instance", None).await;
        assert_eq!(r.status, 502);
        assert_eq!(r.header("content-type"), Some("text/html"));
        assert!(r.text().contains("502 Bad Gateway"));
    }
    assert_eq!(
        c.get("/api/v2/instance", None).await.status,
        200,
        "used up after 2"
    );
    let r = c.get("/api/v1/instance", None).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());

    instance.inject(Fault::Oversized(100_000), 1);
    let r = c.get("/api/v1/instance", None).await;
    assert_eq!(r.body.len(), 100_000);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_ok());

    instance.inject(Fault::TooManyRequests, 1);
    let r = c
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            None,
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), r#"{"error":"Too many requests"}"#);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert!(is_iso_micros(r.header("x-ratelimit-reset").unwrap_or("")));
    assert!(r.header("retry-after").is_none());
}

#[tokio::test]
async fn reset_and_truncation_faults_break_the_exchange() {
    let instance = LocalInstance::start().await.expect("start");
    let c = RawClient::new(&instance.base_url(), &instance.ca_certificate_pem());
    instance.inject(Fault::ResetConnection, 1);
    assert!(c.send("GET", "/api/v1/instance", &[], None).await.is_err());
    instance.inject(Fault::TruncatedJson, 1);
    let err = c
        .send("GET", "/api/v1/instance", &[], None)
        .await
        .expect_err("truncated");
    assert!(err.0.contains("body"), "{err}");
    assert_eq!(
        c.get("/api/v1/instance", None).await.status,
        200,
        "faults are used up"
    );
    assert_eq!(
        instance.requests().len(),
        3,
        "faulted requests are still recorded"
    );
}

#[tokio::test]
async fn delay_fault_holds_the_answer_back() {
    let instance = LocalInstance::builder()
        .https(false)
        .start()
        .await
        .expect("start");
    let c = RawClient::new(&instance.base_url(), "");
    instance.inject(Fault::Delay(Duration::from_secs(30)), 1);
    let slow = c.send("GET", "/api/v1/instance", &[], None);
    // Far shorter than the delay: the answer cannot have arrived.
    let timed_out = tokio::time::timeout(Duration::from_millis(300), slow)
        .await
        .is_err();
    assert!(timed_out);
    instance.inject(Fault::Delay(Duration::from_millis(1)), 1);
    assert_eq!(
        c.get("/api/v1/instance", None).await.status,
        200,
        "delayed, then normal"
    );
    instance.shutdown().await;
}
