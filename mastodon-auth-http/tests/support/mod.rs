//! The test kit's servers and certificate authority, with tests' error handling, and the
//! requests and handlers the transport's tests share.

#![allow(dead_code)] // Each test file uses a different part.

use std::sync::Arc;

use bytes::Bytes;

pub(crate) use mastodon_auth_tests::{Alpn, Behaviour, Handler, Leaf, TestServer};

/// The test kit's certificate authority, with tests' error handling: a failure to make a
/// certificate fails the test at once.
pub(crate) struct TestCa(mastodon_auth_tests::TestCa);

impl TestCa {
    pub(crate) fn new(name: &str) -> TestCa {
        TestCa(mastodon_auth_tests::TestCa::new(name).expect("test CA"))
    }

    /// The CA certificate, PEM-encoded, for `add_root_pem`.
    pub(crate) fn pem(&self) -> String {
        self.0.pem()
    }

    /// The CA certificate, DER-encoded.
    pub(crate) fn der(&self) -> Vec<u8> {
        self.0.der()
    }

    /// A leaf for `names` (DNS names or IP addresses), valid now.
    pub(crate) fn leaf(&self, names: &[&str]) -> Leaf {
        self.0.leaf(names).expect("leaf certificate")
    }

    /// A leaf for `names` that expired in 2001.
    pub(crate) fn expired_leaf(&self, names: &[&str]) -> Leaf {
        self.0
            .expired_leaf(names)
            .expect("expired leaf certificate")
    }
}

pub(crate) fn tls_config(leaf: Leaf, alpn: Alpn) -> Arc<rustls::ServerConfig> {
    leaf.server_config(alpn).expect("server TLS configuration")
}

/// A handler answering `{"ok":true}` on every path, echoing the User-Agent it saw.
pub(crate) fn hello() -> Handler {
    Arc::new(|req| {
        let ua = req
            .headers
            .get(http::header::USER_AGENT)
            .cloned()
            .unwrap_or_else(|| http::HeaderValue::from_static("none"));
        http::Response::builder()
            .header("content-type", "application/json")
            .header("x-seen-user-agent", ua)
            .body(Bytes::from_static(b"{\"ok\":true}"))
            .expect("valid response")
    })
}

/// A GET request with an empty body.
pub(crate) fn get(url: &str) -> http::Request<Bytes> {
    http::Request::get(url)
        .body(Bytes::new())
        .expect("valid request")
}
