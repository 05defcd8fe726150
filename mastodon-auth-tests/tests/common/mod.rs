//! Shared helpers for the integration tests: a raw hyper client that trusts the test CA, and JSON
//! shape comparison that keeps key order.
#![allow(dead_code)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use tokio::net::TcpStream;

/// Generous upper bound for any single request in tests.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// Why a raw request failed before a complete response arrived.
#[derive(Debug)]
pub(crate) struct SendError(pub String);

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One connection per request over HTTP/1.1, TLS when the base URL is https.
#[derive(Clone)]
pub(crate) struct RawClient {
    base: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl RawClient {
    pub(crate) fn new(base_url: &str, ca_pem: &str) -> Self {
        let tls = base_url.starts_with("https://").then(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                roots
                    .add(cert.expect("CA PEM parses"))
                    .expect("CA is accepted");
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            tokio_rustls::TlsConnector::from(Arc::new(config))
        });
        Self {
            base: base_url.to_owned(),
            tls,
        }
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Resp, SendError> {
        tokio::time::timeout(
            TIMEOUT,
            self.send_inner(method, path_and_query, headers, body),
        )
        .await
        .map_err(|_| SendError("timed out".into()))?
    }

    async fn send_inner(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Resp, SendError> {
        let authority = self
            .base
            .split_once("://")
            .map(|(_, a)| a.to_owned())
            .ok_or_else(|| SendError("bad base url".into()))?;
        let tcp = TcpStream::connect(&authority)
            .await
            .map_err(|e| SendError(format!("connect: {e}")))?;
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", &authority);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .map_err(|e| SendError(format!("request: {e}")))?;
        let resp = if let Some(tls) = &self.tls {
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| SendError(format!("tls: {e}")))?;
            exchange(TokioIo::new(stream), req).await?
        } else {
            exchange(TokioIo::new(tcp), req).await?
        };
        Ok(resp)
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        self.send("GET", path, &headers, None)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub(crate) async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        token: Option<&str>,
    ) -> Resp {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        self.send("POST", path, &headers, Some(&body))
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }
}

async fn exchange<T>(io: TokioIo<T>, req: hyper::Request<Full<Bytes>>) -> Result<Resp, SendError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| SendError(format!("handshake: {e}")))?;
    let conn_task = tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| SendError(format!("send: {e}")))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| SendError(format!("body: {e}")))?
        .to_bytes();
    conn_task.abort();
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// A JSON value reduced to its structure, with object keys in document order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    Null,
    Bool,
    Number,
    String,
    Array(Vec<Shape>),
    Object(Vec<(String, Shape)>),
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Bool)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Number)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Number)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Number)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::String)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Shape, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Shape::Array(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Shape, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, Shape>()? {
                    v.push((k, x));
                }
                Ok(Shape::Object(v))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn shape(json: &str) -> Shape {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"))
}

/// Same keys in the same order and the same types; arrays compare their first elements'
/// shapes (their lengths may differ), so values never matter.
/// Registers an app over HTTP and returns (client_id, client_secret).
pub(crate) async fn register(c: &RawClient, redirect: &str, scopes: &str) -> (String, String) {
    let r = c
        .post_form(
            "/api/v1/apps",
            &[
                ("client_name", "test app"),
                ("redirect_uris", redirect),
                ("scopes", scopes),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    (
        j["client_id"].as_str().expect("client_id").to_owned(),
        j["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned(),
    )
}

pub(crate) fn assert_same_shape(expected: &Shape, actual: &Shape, at: &str) {
    match (expected, actual) {
        (Shape::Object(e), Shape::Object(a)) => {
            let ek: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
            let ak: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(ek, ak, "keys differ at {at}");
            for ((k, ev), (_, av)) in e.iter().zip(a) {
                assert_same_shape(ev, av, &format!("{at}.{k}"));
            }
        }
        (Shape::Array(e), Shape::Array(a)) => {
            if let (Some(ef), Some(af)) = (e.first(), a.first()) {
                assert_same_shape(ef, af, &format!("{at}[0]"));
            }
        }
        (e, a) => assert_eq!(
            std::mem::discriminant(e),
            std::mem::discriminant(a),
            "types differ at {at}: expected {e:?}, got {a:?}"
        ),
    }
}
