//! HTTP/2 keep-alive: a pooled connection whose PINGs go unanswered is closed by the client,
//! so the next request opens a new one instead of waiting on a dead connection.

mod support;

use std::time::Duration;

use mastodon_auth_core::HttpTransport;
use mastodon_auth_http::HyperTransport;
use mastodon_auth_tests::Relay;
use support::{Alpn, Behaviour, TestCa, TestServer, get, hello, tls_config};

/// A generous upper bound so a broken test fails instead of hanging; never a speed check.
const GUARD: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_unanswered_ping_closes_the_pooled_connection_and_the_next_request_reconnects() {
    let ca = TestCa::new("test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let server = TestServer::tls(
        tls_config(leaf, Alpn::H2AndHttp11),
        Behaviour::Http(hello()),
    )
    .await
    .expect("test server");
    let relay = Relay::start(server.addr()).await.expect("test server");
    let transport = HyperTransport::builder()
        .webpki_roots(false)
        .add_root_pem(ca.pem().as_bytes())
        .http2_keep_alive_interval(Some(Duration::from_millis(200)))
        .http2_keep_alive_timeout(Duration::from_millis(200))
        .build()
        .expect("transport");
    let url = format!("https://{}/", relay.addr());

    let first = tokio::time::timeout(GUARD, transport.send(get(&url)))
        .await
        .expect("first request within the guard")
        .expect("first request succeeds");
    assert_eq!(first.version(), http::Version::HTTP_2);
    assert_eq!(relay.accepted(), 1);

    // The connection now sits idle in the pool. Freezing the relay swallows the PINGs.
    relay.freeze();
    tokio::time::timeout(GUARD, relay.client_closed(1))
        .await
        .expect("the client closed the frozen connection after an unanswered PING");

    let second = tokio::time::timeout(GUARD, transport.send(get(&url)))
        .await
        .expect("second request within the guard")
        .expect("second request succeeds on a new connection");
    assert_eq!(second.status(), 200);
    assert_eq!(relay.accepted(), 2, "the dead connection was not reused");
    assert_eq!(server.accepted(), 2);
}

#[test]
fn keep_alive_settings_show_in_debug() {
    let transport = HyperTransport::builder()
        .http2_keep_alive_interval(None)
        .build()
        .expect("transport");
    let shown = format!("{transport:?}");
    assert!(shown.contains("interval: None"), "{shown}");
}

/// Issue 22: a zero interval (a PING storm) or a zero timeout (a new connection per request)
/// used to be accepted.
#[test]
fn a_zero_keep_alive_interval_or_timeout_is_refused_with_what_to_write_instead() {
    let interval = HyperTransport::builder()
        .http2_keep_alive_interval(Some(Duration::ZERO))
        .build()
        .expect_err("zero interval");
    assert_eq!(
        interval.to_string(),
        "http2_keep_alive_interval cannot be zero: use None to turn pings off"
    );
    let timeout = HyperTransport::builder()
        .http2_keep_alive_timeout(Duration::ZERO)
        .build()
        .expect_err("zero timeout");
    assert!(
        timeout
            .to_string()
            .starts_with("http2_keep_alive_timeout cannot be zero"),
        "{timeout}"
    );
    assert!(
        HyperTransport::builder()
            .http2_keep_alive_interval(None)
            .build()
            .is_ok()
    );
}
