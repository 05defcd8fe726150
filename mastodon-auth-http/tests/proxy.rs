//! HyperTransport through the test kit's proxy: CONNECT tunnels to a LocalInstance over TLS
//! (HTTP/2 and HTTP/1.1), absolute-form plain HTTP, SOCKS5, NO_PROXY, credentials, refusals,
//! unreachable proxies, and that the proxy password never shows.

mod support;

use std::time::Duration;

use bytes::Bytes;
use mastodon_auth_core::{HttpTransport, TransportError};
use mastodon_auth_http::{BuildError, HyperTransport, HyperTransportBuilder, ProxyOrigin};
use mastodon_auth_tests::{
    ConnectProxy, LocalInstance, ProxyBehaviour, ProxyProtocol, ProxyRequest,
};
use support::{Alpn, Behaviour, TestCa, TestServer, get, hello, tls_config};

/// A generous upper bound so a broken test fails instead of hanging; never a speed check.
const GUARD: Duration = Duration::from_secs(30);

/// The password every test proxy URL carries; it must never show.
const PASSWORD: &str = "s3cret p@ss";
/// `PASSWORD` percent-encoded for a URL.
const PASSWORD_IN_URL: &str = "s3cret%20p%40ss";
/// `Basic base64("alice:s3cret p@ss")`.
const ALICE_BASIC: &str = "Basic YWxpY2U6czNjcmV0IHBAc3M=";

async fn send(
    transport: &HyperTransport,
    request: http::Request<Bytes>,
) -> Result<http::Response<Bytes>, TransportError> {
    tokio::time::timeout(GUARD, transport.send(request))
        .await
        .expect("the transport gave up within the guard time")
}

async fn instance() -> LocalInstance {
    LocalInstance::start().await.expect("local instance")
}

async fn proxy(behaviour: ProxyBehaviour) -> ConnectProxy {
    ConnectProxy::start(behaviour).await.expect("proxy")
}

fn alice() -> ProxyBehaviour {
    ProxyBehaviour::RequireBasic {
        user: "alice".into(),
        password: PASSWORD.into(),
    }
}

/// `http://alice:<password>@127.0.0.1:PORT`.
fn with_credentials(proxy: &ConnectProxy, password_in_url: &str) -> String {
    format!("http://alice:{password_in_url}@{}", proxy.addr())
}

/// A builder trusting the instance's CA only.
fn trusting(instance: &LocalInstance) -> HyperTransportBuilder {
    HyperTransport::builder()
        .webpki_roots(false)
        .add_root_pem(instance.ca_certificate_pem().as_bytes())
}

fn instance_url(instance: &LocalInstance) -> String {
    format!("{}/api/v1/instance", instance.base_url())
}

fn proxy_error(result: Result<http::Response<Bytes>, TransportError>) -> TransportError {
    match result {
        Err(err @ TransportError::Proxy { .. }) => err,
        other => panic!("expected a proxy error, got {other:?}"),
    }
}

fn assert_no_password(shown: &str) {
    assert!(
        !shown.contains("s3cret") && !shown.contains(PASSWORD_IN_URL) && !shown.contains("YWxp"),
        "the proxy password shows: {shown}"
    );
}

#[tokio::test]
async fn https_through_a_connect_proxy_reaches_the_instance_over_http2() {
    let instance = instance().await;
    let proxy = proxy(ProxyBehaviour::Open).await;
    let transport = trusting(&instance)
        .proxy(proxy.url())
        .build()
        .expect("transport");

    for _ in 0..3 {
        let response = send(&transport, get(&instance_url(&instance)))
            .await
            .expect("request through the proxy");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
    }
    assert_eq!(
        proxy.tunnels(),
        1,
        "one tunnel carries the pooled h2 connection"
    );
    assert_eq!(
        proxy.requests(),
        vec![ProxyRequest {
            protocol: ProxyProtocol::Connect,
            target: instance.addr().to_string(),
            credentials: None,
        }]
    );
    assert_eq!(
        instance.requests().len(),
        3,
        "the instance answered each request"
    );
}

#[tokio::test]
async fn https_through_a_connect_proxy_works_over_http1() {
    let ca = TestCa::new("test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let server = TestServer::tls(tls_config(leaf, Alpn::Http11Only), Behaviour::Http(hello()))
        .await
        .expect("test server");
    let proxy = proxy(ProxyBehaviour::Open).await;
    let transport = HyperTransport::builder()
        .webpki_roots(false)
        .add_root_pem(ca.pem().as_bytes())
        .proxy(proxy.url())
        .build()
        .expect("transport");

    let response = send(&transport, get(&server.url("https", "/")))
        .await
        .expect("request through the proxy");
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.body().as_ref(), b"{\"ok\":true}");
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_proxy_requiring_credentials_gets_them_from_the_url() {
    let instance = instance().await;
    let proxy = proxy(alice()).await;
    let transport = trusting(&instance)
        .proxy(with_credentials(&proxy, PASSWORD_IN_URL))
        .build()
        .expect("transport");

    let response = send(&transport, get(&instance_url(&instance)))
        .await
        .expect("request through the proxy");
    assert_eq!(response.status(), 200);
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].credentials.as_deref(), Some(ALICE_BASIC));
    // The credentials are for the proxy only: the instance never sees them.
    let seen = instance.requests();
    assert!(
        seen.iter()
            .all(|r| r.header("proxy-authorization").is_none())
    );
}

#[tokio::test]
async fn without_credentials_the_proxy_answer_407_is_a_typed_error() {
    let instance = instance().await;
    let proxy = proxy(alice()).await;
    let transport = trusting(&instance)
        .proxy(proxy.url())
        .build()
        .expect("transport");

    let err = proxy_error(send(&transport, get(&instance_url(&instance))).await);
    let TransportError::Proxy {
        proxy: shown_proxy,
        status,
        message,
    } = &err
    else {
        unreachable!()
    };
    assert_eq!(shown_proxy, &proxy.addr().to_string());
    assert_eq!(*status, Some(407));
    assert!(message.contains("requires credentials"), "{message}");
    assert_eq!(proxy.requests()[0].credentials, None);
    assert!(instance.requests().is_empty());
}

#[tokio::test]
async fn wrong_credentials_are_a_407_that_never_shows_the_password() {
    let instance = instance().await;
    let proxy = proxy(ProxyBehaviour::RequireBasic {
        user: "alice".into(),
        password: "another password".into(),
    })
    .await;
    let builder = trusting(&instance).proxy(with_credentials(&proxy, PASSWORD_IN_URL));
    let builder_shown = format!("{builder:?}");
    let transport = builder.build().expect("transport");

    let err = proxy_error(send(&transport, get(&instance_url(&instance))).await);
    assert!(
        matches!(
            err,
            TransportError::Proxy {
                status: Some(407),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("rejected the credentials"),
        "{err}"
    );
    assert_no_password(&format!("{err} {err:?} {transport:?} {builder_shown}"));
}

#[tokio::test]
async fn a_refusing_proxy_reports_its_status() {
    let instance = instance().await;
    for status in [403, 502] {
        let proxy = proxy(ProxyBehaviour::Refuse(status)).await;
        let transport = trusting(&instance)
            .proxy(proxy.url())
            .build()
            .expect("transport");
        let err = proxy_error(send(&transport, get(&instance_url(&instance))).await);
        match &err {
            TransportError::Proxy {
                proxy: shown,
                status: got,
                message,
            } => {
                assert_eq!(shown, &proxy.addr().to_string());
                assert_eq!(*got, Some(status));
                assert!(message.contains(&status.to_string()), "{message}");
                assert!(message.contains(&instance.addr().to_string()), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(instance.requests().is_empty());
}

#[tokio::test]
async fn an_unreachable_proxy_is_named_without_its_password() {
    let instance = instance().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = listener.local_addr().expect("addr");
    drop(listener);
    let transport = trusting(&instance)
        .proxy(format!("http://alice:{PASSWORD_IN_URL}@{closed}"))
        .build()
        .expect("transport");

    let err = proxy_error(send(&transport, get(&instance_url(&instance))).await);
    match &err {
        TransportError::Proxy {
            proxy,
            status,
            message,
        } => {
            assert_eq!(proxy, &closed.to_string());
            assert_eq!(*status, None);
            assert!(
                message.contains("could not connect to the proxy"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_no_password(&format!("{err} {err:?} {transport:?}"));
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form_with_credentials() {
    let instance = LocalInstance::builder()
        .https(false)
        .start()
        .await
        .expect("local instance");
    let proxy = proxy(alice()).await;
    let transport = HyperTransport::builder()
        .proxy(with_credentials(&proxy, PASSWORD_IN_URL))
        .build()
        .expect("transport");

    let url = instance_url(&instance);
    let response = send(&transport, get(&url))
        .await
        .expect("forwarded request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        proxy.requests(),
        vec![ProxyRequest {
            protocol: ProxyProtocol::Forward,
            target: url,
            credentials: Some(ALICE_BASIC.to_owned()),
        }]
    );
}

/// A lookup standing in for the process environment.
fn environment(vars: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> {
    let vars = vars.to_vec();
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

#[tokio::test]
async fn the_environment_names_the_proxy_and_no_proxy_bypasses_it() {
    let instance = instance().await;
    let proxy = proxy(ProxyBehaviour::Open).await;

    let proxied = trusting(&instance)
        .proxy_from_env_with(environment(&[("HTTPS_PROXY", proxy.url())]))
        .build()
        .expect("transport");
    send(&proxied, get(&instance_url(&instance)))
        .await
        .expect("request through the proxy");
    assert_eq!(proxy.tunnels(), 1);

    for no_proxy in ["127.0.0.1", "127.0.0.0/8", "*"] {
        let bypassing = trusting(&instance)
            .proxy_from_env_with(environment(&[
                ("https_proxy", proxy.url()),
                ("no_proxy", no_proxy.to_owned()),
            ]))
            .build()
            .expect("transport");
        let response = send(&bypassing, get(&instance_url(&instance)))
            .await
            .expect("direct request");
        assert_eq!(response.status(), 200);
        assert_eq!(
            proxy.requests().len(),
            1,
            "NO_PROXY={no_proxy} was not honoured"
        );
    }
}

#[tokio::test]
async fn ignoring_the_environment_connects_directly() {
    let instance = instance().await;
    let proxy = proxy(ProxyBehaviour::Refuse(403)).await;
    let transport = trusting(&instance)
        .proxy_from_env_with(environment(&[("ALL_PROXY", proxy.url())]))
        .proxy_from_env(false)
        .build()
        .expect("transport");
    send(&transport, get(&instance_url(&instance)))
        .await
        .expect("direct request");
    assert!(proxy.requests().is_empty());
}

#[tokio::test]
async fn a_loopback_target_bypasses_a_proxy_on_another_machine() {
    let instance = instance().await;
    // Never contacted: a proxy elsewhere could not reach this machine's loopback anyway.
    let transport = trusting(&instance)
        .proxy("http://proxy.invalid:3128")
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("transport");
    let response = send(&transport, get(&instance_url(&instance)))
        .await
        .expect("direct request");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn socks5h_lets_the_proxy_resolve_the_name() {
    let instance = instance().await;
    let proxy = proxy(alice()).await;
    let transport = trusting(&instance)
        .proxy(format!(
            "socks5h://alice:{PASSWORD_IN_URL}@{}",
            proxy.addr()
        ))
        .build()
        .expect("transport");

    let url = format!(
        "https://localhost:{}/api/v1/instance",
        instance.addr().port()
    );
    let response = send(&transport, get(&url))
        .await
        .expect("request through SOCKS5");
    assert_eq!(response.status(), 200);
    assert_eq!(
        proxy.requests(),
        vec![ProxyRequest {
            protocol: ProxyProtocol::Socks5,
            target: format!("localhost:{}", instance.addr().port()),
            credentials: Some(format!("alice:{PASSWORD}")),
        }]
    );
    assert_eq!(proxy.tunnels(), 1);
}

#[tokio::test]
async fn socks5_sends_an_address_resolved_here() {
    let instance = instance().await;
    let proxy = proxy(ProxyBehaviour::Open).await;
    let transport = trusting(&instance)
        .proxy(format!("socks5://{}", proxy.addr()))
        .build()
        .expect("transport");

    // `localhost` may resolve to ::1 first, where the instance does not listen, so only what
    // the proxy was asked for is checked here.
    let url = format!(
        "https://localhost:{}/api/v1/instance",
        instance.addr().port()
    );
    let _ = send(&transport, get(&url)).await;
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1);
    let address: std::net::SocketAddr = requests[0].target.parse().expect("an address, not a name");
    assert!(address.ip().is_loopback());
    assert_eq!(address.port(), instance.addr().port());

    let response = send(&transport, get(&instance_url(&instance)))
        .await
        .expect("request through SOCKS5");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_socks5_proxy_rejecting_the_login_is_a_typed_error() {
    let instance = instance().await;
    let proxy = proxy(ProxyBehaviour::RequireBasic {
        user: "alice".into(),
        password: "another password".into(),
    })
    .await;
    let transport = trusting(&instance)
        .proxy(format!(
            "socks5h://alice:{PASSWORD_IN_URL}@{}",
            proxy.addr()
        ))
        .build()
        .expect("transport");
    let err = proxy_error(send(&transport, get(&instance_url(&instance))).await);
    assert!(
        matches!(&err, TransportError::Proxy { status: None, message, .. } if message.contains("credentials")),
        "{err:?}"
    );
    assert_no_password(&format!("{err} {err:?} {transport:?}"));
}

#[test]
fn an_unusable_proxy_url_is_a_build_error_without_the_password() {
    let err = HyperTransport::builder()
        .proxy(format!(
            "socks4://alice:{PASSWORD_IN_URL}@proxy.example:1080"
        ))
        .build()
        .expect_err("SOCKS4 is not supported");
    match &err {
        BuildError::Proxy {
            origin,
            url,
            reason,
        } => {
            assert_eq!(*origin, ProxyOrigin::Builder);
            assert_eq!(url, "socks4://***@proxy.example:1080");
            assert!(reason.contains("SOCKS4"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_no_password(&format!("{err} {err:?}"));

    let err = HyperTransport::builder()
        .proxy_from_env_with(environment(&[(
            "HTTPS_PROXY",
            format!("https://alice:{PASSWORD_IN_URL}@proxy.example"),
        )]))
        .build()
        .expect_err("TLS to the proxy is not supported");
    assert!(
        matches!(
            err,
            BuildError::Proxy {
                origin: ProxyOrigin::Environment("HTTPS_PROXY"),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("$HTTPS_PROXY"), "{err}");
    assert_no_password(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn a_proxy_does_not_make_plain_http_to_a_public_host_acceptable() {
    let proxy = proxy(ProxyBehaviour::Open).await;
    let transport = HyperTransport::builder()
        .proxy(proxy.url())
        .build()
        .expect("transport");
    let err = send(&transport, get("http://example.com/api/v1/instance"))
        .await
        .expect_err("refused before any connection");
    assert_eq!(
        err,
        TransportError::InsecureUrl {
            url: "http://example.com/api/v1/instance".into()
        }
    );
    assert!(proxy.requests().is_empty());
}
