//! A scripted transport for flow tests: answers from a queue, records every request.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mastodon_auth_core::{HttpTransport, Mastodon, MastodonBuilder, TransportError};

/// One request as the transport saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub url: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Seen {
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        form_pairs(&self.body)
    }

    pub(crate) fn query(&self) -> Vec<(String, String)> {
        form_pairs(self.url.split_once('?').map_or("", |(_, q)| q))
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub(crate) fn form_pairs(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) type Answer = Result<http::Response<Bytes>, TransportError>;

#[derive(Clone, Default)]
pub(crate) struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn then(&self, answer: Answer) -> &Self {
        self.answers.lock().unwrap().push_back(answer);
        self
    }

    pub(crate) fn json(&self, status: u16, body: &str) -> &Self {
        self.then(Ok(response(
            status,
            body,
            &[("content-type", "application/json; charset=utf-8")],
        )))
    }

    pub(crate) fn reply(&self, status: u16, body: &str, headers: &[(&str, &str)]) -> &Self {
        self.then(Ok(response(status, body, headers)))
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    pub(crate) fn builder(&self, base: &str) -> MastodonBuilder {
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

pub(crate) fn response(status: u16, body: &str, headers: &[(&str, &str)]) -> http::Response<Bytes> {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from(body.to_owned())).unwrap()
}

pub(crate) use mastodon_auth_tests::Interaction;

/// The interactions of one of the test kit's recorded cassettes.
pub(crate) fn cassette(name: &str) -> Vec<Interaction> {
    mastodon_auth_tests::Cassette::recorded(name)
        .unwrap_or_else(|e| panic!("{e}"))
        .interactions
}

/// What the scripted transport answers for a recorded interaction.
pub(crate) trait Recorded {
    /// The recorded response.
    fn answer(&self) -> Answer;
}

impl Recorded for Interaction {
    fn answer(&self) -> Answer {
        Ok(self.response.to_http())
    }
}

/// Form fields as a sorted multiset, without the `oauth_info` field Mastodon.py's `log_in`
/// sends by mistake.
pub(crate) fn field_multiset(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .iter()
        .filter(|(k, _)| k != "oauth_info")
        .cloned()
        .collect();
    v.sort();
    v
}
