//! A scripted transport for flow tests: answers from a queue, records every request.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mastodon_auth_core::{HttpTransport, Mastodon, MastodonBuilder, TransportError};

/// One request as the transport saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn form(&self) -> Vec<(String, String)> {
        form_pairs(&self.body)
    }

    pub fn query(&self) -> Vec<(String, String)> {
        form_pairs(self.url.split_once('?').map_or("", |(_, q)| q))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub fn form_pairs(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub type Answer = Result<http::Response<Bytes>, TransportError>;

#[derive(Clone, Default)]
pub struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn then(&self, answer: Answer) -> &Self {
        self.answers.lock().unwrap().push_back(answer);
        self
    }

    pub fn json(&self, status: u16, body: &str) -> &Self {
        self.then(Ok(response(
            status,
            body,
            &[("content-type", "application/json; charset=utf-8")],
        )))
    }

    pub fn reply(&self, status: u16, body: &str, headers: &[(&str, &str)]) -> &Self {
        self.then(Ok(response(status, body, headers)))
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn remaining(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    pub fn builder(&self, base: &str) -> MastodonBuilder {
        Mastodon::builder(base).transport(self.clone())
    }
}

#[async_trait::async_trait]
impl HttpTransport for Script {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let (parts, body) = request.into_parts();
        self.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            url: parts.uri.to_string(),
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        });
        self.answers.lock().unwrap().pop_front().unwrap_or_else(|| {
            Err(TransportError::Other(
                "the script has no answer left".into(),
            ))
        })
    }
}

pub fn response(status: u16, body: &str, headers: &[(&str, &str)]) -> http::Response<Bytes> {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from(body.to_owned())).unwrap()
}

/// A recorded interaction of a cassette (see tests/fixtures/cassettes/README.md).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub request_body: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn answer(&self) -> Answer {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Ok(response(self.status, &self.body, &headers))
    }

    pub fn request_form(&self) -> Vec<(String, String)> {
        form_pairs(self.request_body.as_deref().unwrap_or(""))
    }
}

pub fn cassette(name: &str) -> Vec<Recorded> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/cassettes")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["interactions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            let req = &i["request"];
            let resp = &i["response"];
            let headers = resp["headers"]
                .as_mapping()
                .map(|m| {
                    m.iter()
                        .flat_map(|(k, vs)| {
                            let k = k.as_str().unwrap().to_owned();
                            vs.as_sequence()
                                .unwrap()
                                .iter()
                                .map(move |v| (k.clone(), v.as_str().unwrap().to_owned()))
                                .collect::<Vec<_>>()
                        })
                        .collect()
                })
                .unwrap_or_default();
            Recorded {
                method: req["method"].as_str().unwrap().to_owned(),
                uri: req["uri"].as_str().unwrap().to_owned(),
                request_body: req["body"].as_str().map(str::to_owned),
                status: resp["status"]["code"].as_u64().unwrap() as u16,
                headers,
                body: resp["body"]["string"].as_str().unwrap_or("").to_owned(),
            }
        })
        .collect()
}

/// Form fields as a sorted multiset, without the `oauth_info` field Mastodon.py's `log_in`
/// sends by mistake.
pub fn field_multiset(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .iter()
        .filter(|(k, _)| k != "oauth_info")
        .cloned()
        .collect();
    v.sort();
    v
}
