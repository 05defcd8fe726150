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

#[tokio::test]
async fn https_instance_speaks_http2_when_offered() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use rustls::pki_types::pem::PemObject as _;
    use std::sync::Arc;

    let instance = LocalInstance::start().await.expect("start");
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls::pki_types::CertificateDer::pem_slice_iter(instance.ca_certificate_pem().as_bytes())
    {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(instance.addr())
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls handshake with the test CA, for the name localhost");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get(format!("{}/api/v2/instance", instance.base_url()))
        .body(Empty::<bytes::Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("send");
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["version"], "4.7.3");
    conn.abort();
    instance.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_drop_close_the_listener() {
    let instance = LocalInstance::start().await.expect("start");
    let addr = instance.addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    instance.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let dropped = LocalInstance::builder()
        .https(false)
        .start()
        .await
        .expect("start");
    let addr = dropped.addr();
    drop(dropped);
    // The abort lands on the runtime's next turn; yield until it has.
    let mut closed = false;
    for _ in 0..200 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed);
}

#[tokio::test]
async fn requests_are_kept_unless_recording_is_turned_off() {
    for record in [true, false] {
        let instance = LocalInstance::builder()
            .https(false)
            .record_requests(record)
            .start()
            .await
            .expect("start");
        let c = RawClient::new(&instance.base_url(), "");
        for _ in 0..3 {
            assert_eq!(c.get("/api/v1/instance", None).await.status, 200);
        }
        let kept: Vec<String> = instance.requests().into_iter().map(|r| r.path).collect();
        let expected = if record {
            vec!["/api/v1/instance"; 3]
        } else {
            vec![]
        };
        assert_eq!(kept, expected, "record_requests({record})");
    }
}
