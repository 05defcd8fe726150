//! HyperTransport against real loopback sockets: TLS verification, HTTP/2 by ALPN, timeouts,
//! broken and oversized responses, the plain-HTTP policy, redirects and connection pooling.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mastodon_auth_core::{
    AllowHttp, HttpTransport, RequestTimeout, TimeoutPhase, TlsFailure, TransportError,
};
use mastodon_auth_http::HyperTransport;
use support::{Alpn, Behaviour, TestCa, TestServer, get, hello, tls_config};

/// A generous upper bound so a broken test fails instead of hanging; never a speed check.
const GUARD: Duration = Duration::from_secs(30);

async fn send(
    transport: &HyperTransport,
    request: http::Request<Bytes>,
) -> Result<http::Response<Bytes>, TransportError> {
    tokio::time::timeout(GUARD, transport.send(request))
        .await
        .expect("the transport gave up within the guard time")
}

/// A transport trusting only `ca`.
fn trusting(ca: &TestCa) -> HyperTransport {
    HyperTransport::builder()
        .webpki_roots(false)
        .add_root_pem(ca.pem().as_bytes())
        .build()
        .expect("transport")
}

async fn https_server(ca: &TestCa, alpn: Alpn) -> TestServer {
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    TestServer::tls(tls_config(leaf, alpn), Behaviour::Http(hello()))
        .await
        .expect("test server")
}

#[tokio::test]
async fn https_request_succeeds_with_the_test_ca_added() {
    let ca = TestCa::new("test CA");
    let server = https_server(&ca, Alpn::Http11Only).await;
    let transport = trusting(&ca);
    let response = send(&transport, get(&server.url("https", "/api/v1/instance")))
        .await
        .expect("request succeeds");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.body().as_ref(), b"{\"ok\":true}");
    assert_eq!(
        response.headers()["x-seen-user-agent"],
        mastodon_auth_http::DEFAULT_USER_AGENT
    );
}

#[tokio::test]
async fn the_host_name_localhost_is_verified_too() {
    let ca = TestCa::new("test CA");
    let server = https_server(&ca, Alpn::Http11Only).await;
    let transport = trusting(&ca);
    let url = format!("https://localhost:{}/", server.addr().port());
    let response = send(&transport, get(&url)).await.expect("request succeeds");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_ca_added_as_der_is_trusted() {
    let ca = TestCa::new("test CA");
    let server = https_server(&ca, Alpn::Http11Only).await;
    let transport = HyperTransport::builder()
        .webpki_roots(false)
        .add_root_der(&ca.der())
        .build()
        .expect("transport");
    let response = send(&transport, get(&server.url("https", "/")))
        .await
        .expect("request succeeds");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn http2_is_used_when_the_server_offers_it_by_alpn() {
    let ca = TestCa::new("test CA");
    let server = https_server(&ca, Alpn::H2AndHttp11).await;
    let transport = trusting(&ca);
    let response = send(&transport, get(&server.url("https", "/")))
        .await
        .expect("request succeeds");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.body().as_ref(), b"{\"ok\":true}");
}

#[tokio::test]
async fn a_request_user_agent_is_kept() {
    let ca = TestCa::new("test CA");
    let server = https_server(&ca, Alpn::H2AndHttp11).await;
    let transport = HyperTransport::builder()
        .webpki_roots(false)
        .add_root_pem(ca.pem().as_bytes())
        .user_agent("transport-default/1")
        .build()
        .expect("transport");
    let mut request = get(&server.url("https", "/"));
    request
        .headers_mut()
        .insert(http::header::USER_AGENT, "my-bot/2".parse().expect("value"));
    let response = send(&transport, request).await.expect("request succeeds");
    assert_eq!(response.headers()["x-seen-user-agent"], "my-bot/2");
    let response = send(&transport, get(&server.url("https", "/")))
        .await
        .expect("request succeeds");
    assert_eq!(
        response.headers()["x-seen-user-agent"],
        "transport-default/1"
    );
}

fn tls_reason(result: Result<http::Response<Bytes>, TransportError>) -> TlsFailure {
    match result {
        Err(TransportError::Tls { reason, .. }) => reason,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_an_unknown_issuer() {
    let server_ca = TestCa::new("server CA");
    let other_ca = TestCa::new("other CA");
    let server = https_server(&server_ca, Alpn::H2AndHttp11).await;
    let transport = trusting(&other_ca);
    let result = send(&transport, get(&server.url("https", "/"))).await;
    assert_eq!(tls_reason(result), TlsFailure::UnknownIssuer);
}

#[tokio::test]
async fn the_bundled_roots_do_not_trust_a_private_ca() {
    let ca = TestCa::new("test CA");
    let server = https_server(&ca, Alpn::H2AndHttp11).await;
    let transport = HyperTransport::new().expect("transport");
    let result = send(&transport, get(&server.url("https", "/"))).await;
    assert_eq!(tls_reason(result), TlsFailure::UnknownIssuer);
}

#[tokio::test]
async fn a_certificate_for_another_host_is_a_name_mismatch() {
    let ca = TestCa::new("test CA");
    let leaf = ca.leaf(&["other.example"]);
    let server = TestServer::tls(
        tls_config(leaf, Alpn::H2AndHttp11),
        Behaviour::Http(hello()),
    )
    .await
    .expect("test server");
    let transport = trusting(&ca);
    let result = send(&transport, get(&server.url("https", "/"))).await;
    assert_eq!(tls_reason(result), TlsFailure::NameMismatch);
}

#[tokio::test]
async fn an_expired_certificate_is_reported_as_expired() {
    let ca = TestCa::new("test CA");
    let leaf = ca.expired_leaf(&["localhost", "127.0.0.1"]);
    let server = TestServer::tls(
        tls_config(leaf, Alpn::H2AndHttp11),
        Behaviour::Http(hello()),
    )
    .await
    .expect("test server");
    let transport = trusting(&ca);
    let result = send(&transport, get(&server.url("https", "/"))).await;
    match result {
        Err(err @ TransportError::Tls { .. }) => {
            assert!(
                matches!(err, TransportError::Tls { reason: TlsFailure::Expired, ref host, .. } if host == "127.0.0.1"),
                "{err:?}"
            );
            assert!(err.to_string().contains("expired"), "{err}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_protocol_error() {
    let server = TestServer::plain(Behaviour::Http(hello()))
        .await
        .expect("test server");
    let transport = HyperTransport::new().expect("transport");
    let result = send(&transport, get(&server.url("https", "/"))).await;
    assert_eq!(tls_reason(result), TlsFailure::Protocol);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_the_transports_request_timeout() {
    let server = TestServer::plain(Behaviour::Silent)
        .await
        .expect("test server");
    let transport = HyperTransport::builder()
        .request_timeout(Duration::from_millis(300))
        .build()
        .expect("transport");
    let result = send(&transport, get(&server.url("http", "/"))).await;
    assert_eq!(
        result.expect_err("no answer"),
        TransportError::Timeout {
            phase: TimeoutPhase::Response,
            after: Some(Duration::from_millis(300))
        }
    );
    assert_eq!(server.accepted(), 1, "the request did reach the server");
}

#[tokio::test]
async fn the_request_timeout_extension_overrides_a_longer_default() {
    let server = TestServer::plain(Behaviour::Silent)
        .await
        .expect("test server");
    let transport = HyperTransport::builder()
        .request_timeout(Duration::from_secs(120))
        .build()
        .expect("transport");
    let mut request = get(&server.url("http", "/"));
    request
        .extensions_mut()
        .insert(RequestTimeout(Duration::from_millis(300)));
    let result = send(&transport, request).await;
    assert_eq!(
        result.expect_err("no answer"),
        TransportError::Timeout {
            phase: TimeoutPhase::Response,
            after: Some(Duration::from_millis(300))
        }
    );
}

#[tokio::test]
async fn the_request_timeout_extension_overrides_a_shorter_default() {
    let late: support::Handler = Arc::new(|_req| http::Response::new(Bytes::from_static(b"late")));
    let server = TestServer::plain(Behaviour::SlowHttp(Duration::from_millis(600), late))
        .await
        .expect("test server");
    let transport = HyperTransport::builder()
        .request_timeout(Duration::from_millis(100))
        .build()
        .expect("transport");
    let mut request = get(&server.url("http", "/"));
    request
        .extensions_mut()
        .insert(RequestTimeout(Duration::from_secs(20)));
    let response = send(&transport, request)
        .await
        .expect("answer within the extension's timeout");
    assert_eq!(response.body().as_ref(), b"late");
}

#[tokio::test]
async fn a_tls_handshake_that_never_completes_times_out_while_connecting() {
    // TCP is accepted, but the server never answers the ClientHello.
    let server = TestServer::plain(Behaviour::Silent)
        .await
        .expect("test server");
    let transport = HyperTransport::builder()
        .connect_timeout(Duration::from_millis(300))
        .request_timeout(Duration::from_secs(120))
        .build()
        .expect("transport");
    let result = send(&transport, get(&server.url("https", "/"))).await;
    assert_eq!(
        result.expect_err("no handshake"),
        TransportError::Timeout {
            phase: TimeoutPhase::Connect,
            after: Some(Duration::from_millis(300))
        }
    );
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_connection_closed() {
    let server = TestServer::plain(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"partial\":",
    ))
    .await
        .expect("test server");
    let transport = HyperTransport::new().expect("transport");
    let result = send(&transport, get(&server.url("http", "/"))).await;
    assert!(
        matches!(result, Err(TransportError::ConnectionClosed { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_response_that_is_not_http_is_reported_as_invalid() {
    let server = TestServer::plain(Behaviour::Raw(b"SSH-2.0-OpenSSH\r\n\r\n"))
        .await
        .expect("test server");
    let transport = HyperTransport::new().expect("transport");
    let result = send(&transport, get(&server.url("http", "/"))).await;
    match result {
        Err(TransportError::InvalidResponse { message }) => {
            assert!(!message.contains("SendRequest"), "{message}");
        }
        other => panic!("expected InvalidResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_is_too_large() {
    // 64 chunks of 16 KiB = 1 MiB against a 64 KiB cap, with no Content-Length to warn.
    let server = TestServer::plain(Behaviour::EndlessChunked { chunks: 64 })
        .await
        .expect("test server");
    let transport = HyperTransport::builder()
        .max_body_size(64 * 1024)
        .build()
        .expect("transport");
    let result = send(&transport, get(&server.url("http", "/"))).await;
    assert_eq!(
        result.expect_err("too large"),
        TransportError::BodyTooLarge { limit: 64 * 1024 }
    );
}

#[tokio::test]
async fn a_declared_length_over_the_cap_fails_before_the_body_arrives() {
    // The server promises 10 GB and sends nothing: only the Content-Length check can end this
    // request before the guard time.
    let server = TestServer::plain(Behaviour::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n",
    ))
    .await
    .expect("test server");
    let transport = HyperTransport::new().expect("transport");
    let result = send(&transport, get(&server.url("http", "/"))).await;
    assert_eq!(
        result.expect_err("too large"),
        TransportError::BodyTooLarge {
            limit: mastodon_auth_http::DEFAULT_MAX_BODY_SIZE
        }
    );
}

#[tokio::test]
async fn a_body_exactly_at_the_cap_is_accepted() {
    let body: &'static [u8] = b"0123456789";
    let handler: support::Handler =
        Arc::new(move |_req| http::Response::new(Bytes::from_static(body)));
    let server = TestServer::plain(Behaviour::Http(handler))
        .await
        .expect("test server");
    let transport = HyperTransport::builder()
        .max_body_size(body.len())
        .build()
        .expect("transport");
    let response = send(&transport, get(&server.url("http", "/")))
        .await
        .expect("at the cap is fine");
    assert_eq!(response.body().as_ref(), body);
}

#[tokio::test]
async fn a_refused_port_is_a_connect_error_without_secrets() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let transport = HyperTransport::new().expect("transport");
    let mut request = get(&format!(
        "http://{addr}/api/v1/accounts/verify_credentials?token=QUERYSECRET"
    ));
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        "Bearer HEADERSECRET".parse().expect("value"),
    );
    let err = send(&transport, request).await.expect_err("refused");
    match &err {
        TransportError::Connect { authority, .. } => {
            assert_eq!(authority.as_deref(), Some(addr.to_string().as_str()));
        }
        other => panic!("expected Connect, got {other:?}"),
    }
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
}

#[tokio::test]
async fn an_unresolvable_host_is_a_dns_error() {
    let transport = HyperTransport::new().expect("transport");
    let result = send(
        &transport,
        get("https://no-such-host.invalid/api/v1/instance"),
    )
    .await;
    match result {
        Err(TransportError::Dns { host, .. }) => assert_eq!(host, "no-such-host.invalid"),
        other => panic!("expected Dns, got {other:?}"),
    }
}

#[tokio::test]
async fn plain_http_to_a_public_host_is_refused_but_loopback_works() {
    let transport = HyperTransport::new().expect("transport");
    let result = send(&transport, get("http://example.com/?code=SECRET")).await;
    assert_eq!(
        result.expect_err("refused"),
        TransportError::InsecureUrl {
            url: "http://example.com/?[redacted]".into()
        }
    );

    let server = TestServer::plain(Behaviour::Http(hello()))
        .await
        .expect("test server");
    let response = send(&transport, get(&server.url("http", "/")))
        .await
        .expect("loopback over plain http is allowed");
    assert_eq!(response.status(), 200);
    let localhost = format!("http://localhost:{}/", server.addr().port());
    let response = send(&transport, get(&localhost))
        .await
        .expect("localhost over plain http is allowed");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_request_carrying_allow_http_may_use_plain_http_to_any_host() {
    let transport = HyperTransport::new().expect("transport");
    let mut request = get("http://no-such-host.invalid/api/v1/instance");
    request.extensions_mut().insert(AllowHttp);
    // Past the policy: the transport tries to resolve the host.
    match send(&transport, request).await {
        Err(TransportError::Dns { host, .. }) => assert_eq!(host, "no-such-host.invalid"),
        other => panic!("expected Dns, got {other:?}"),
    }
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    let handler: support::Handler = Arc::new(move |req| {
        if req.uri.path() == "/target" {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        http::Response::builder()
            .status(302)
            .header("location", "/target")
            .body(Bytes::new())
            .expect("valid response")
    });
    let server = TestServer::plain(Behaviour::Http(handler))
        .await
        .expect("test server");
    let transport = HyperTransport::new().expect("transport");
    let response = send(&transport, get(&server.url("http", "/start")))
        .await
        .expect("a 3xx is a successful send");
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/target");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

async fn fire_concurrently(transport: &HyperTransport, url: &str, total: usize, in_flight: usize) {
    let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..total {
        let transport = transport.clone();
        let url = url.to_owned();
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            send(&transport, get(&url)).await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let response = joined.expect("task ran").expect("request succeeds");
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_requests_reuse_pooled_connections() {
    let ca = TestCa::new("test CA");
    let server = https_server(&ca, Alpn::Http11Only).await;
    let transport = trusting(&ca);
    fire_concurrently(&transport, &server.url("https", "/"), 50, 8).await;
    // 8 connections would be the ideal. hyper-util returns a finished HTTP/1 connection to
    // the pool from a separate task; a request that starts in that instant begins a new
    // connect, and when the old connection wins the race the new one is still completed and
    // pooled. So a few extra connections are legitimate; without pooling this would be 50.
    let accepted = server.accepted();
    assert!(
        (1..=16).contains(&accepted),
        "50 requests, 8 in flight, took {accepted} connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_share_one_connection() {
    let ca = TestCa::new("test CA");
    let server = https_server(&ca, Alpn::H2AndHttp11).await;
    let transport = trusting(&ca);
    // Until the first handshake has shown h2, the pool cannot know that one connection will
    // do; after it, every request multiplexes over that connection.
    send(&transport, get(&server.url("https", "/")))
        .await
        .expect("warm-up succeeds");
    fire_concurrently(&transport, &server.url("https", "/"), 50, 50).await;
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn clones_share_the_pool() {
    let server = TestServer::plain(Behaviour::Http(hello()))
        .await
        .expect("test server");
    let transport = HyperTransport::new().expect("transport");
    let clone = transport.clone();
    send(&transport, get(&server.url("http", "/")))
        .await
        .expect("first");
    send(&clone, get(&server.url("http", "/")))
        .await
        .expect("second");
    assert_eq!(server.accepted(), 1);
}

#[test]
fn a_pem_without_certificates_is_refused_at_build() {
    let err = HyperTransport::builder()
        .add_root_pem(b"not a certificate")
        .build()
        .expect_err("no certificate in the PEM");
    assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
}

#[test]
fn a_malformed_der_certificate_is_refused_at_build() {
    let err = HyperTransport::builder()
        .add_root_der(b"\x30\x03garbage")
        .build()
        .expect_err("not a certificate");
    assert!(err.to_string().contains("root certificate #1"), "{err}");
}

#[test]
fn a_transport_can_be_built_outside_a_runtime() {
    let transport = HyperTransport::new().expect("transport");
    let shown = format!("{transport:?}");
    assert!(shown.contains("HyperTransport"), "{shown}");
}
