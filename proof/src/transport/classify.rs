//! reqwest's errors as core's typed [`TransportError`]s.
//!
//! reqwest answers a few questions itself (`is_timeout`, `is_connect`, `is_builder`); the
//! rest is in its chain of sources: the resolver's [`DnsFailure`], rustls's error for a
//! failed handshake, hyper's for an answer that is not HTTP.

use std::error::Error as StdError;
use std::time::Duration;

use mastodon_auth::{TimeoutPhase, TlsFailure, TransportError, http};

use super::resolve::DnsFailure;

/// Where a request went and how long it was allowed, to say so in its errors. Made for every
/// request, so it keeps the URI (a clone shares its bytes) and spells out host and port only
/// for an error.
#[derive(Debug)]
pub(crate) struct Attempt {
    uri: http::Uri,
    connect_timeout: Duration,
    timeout: Duration,
}

impl Attempt {
    pub(crate) fn new(uri: &http::Uri, connect_timeout: Duration, timeout: Duration) -> Self {
        Self {
            uri: uri.clone(),
            connect_timeout,
            timeout,
        }
    }

    /// The URL's host.
    fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    /// `host:port`, the port made explicit.
    fn authority(&self) -> String {
        let port = self.uri.port_u16().unwrap_or(match self.uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        format!("{}:{port}", self.host())
    }

    /// What went wrong with a request reqwest could not complete, or with its body.
    pub(crate) fn error(&self, err: reqwest::Error) -> TransportError {
        let err = &err.without_url();
        if err.is_builder() {
            return TransportError::invalid_request(describe(err));
        }
        if let Some(dns) = find::<DnsFailure>(err) {
            return TransportError::dns(&dns.host, &dns.source);
        }
        if let Some(tls) = find::<rustls::Error>(err) {
            return TransportError::tls(self.host(), TlsFailure::from_rustls(tls), tls);
        }
        if err.is_timeout() {
            // reqwest's connect timeout fails inside the connector; its total timeout (the
            // request's) covers everything from connecting to the body's last byte.
            return if err.is_connect() {
                TransportError::timeout(TimeoutPhase::Connect).with_after(self.connect_timeout)
            } else {
                TransportError::timeout(TimeoutPhase::Response).with_after(self.timeout)
            };
        }
        if err.is_connect() {
            return TransportError::connect(describe(err)).with_authority(self.authority());
        }
        if let Some(hyper) = find::<hyper::Error>(err) {
            if hyper.is_parse() || hyper.is_parse_status() {
                return TransportError::invalid_response(describe(err));
            }
            if hyper.is_user() {
                return TransportError::invalid_request(describe(err));
            }
        }
        // What is left is a request sent and then cut off: the connection closed or reset,
        // the body broken off, an HTTP/2 stream reset. (With redirects off and no
        // `error_for_status`, reqwest reports no redirect or status errors.)
        TransportError::connection_closed(describe(err))
    }
}

/// The errors below `err`, the payloads of `io::Error`s included (`io::Error::source` skips
/// its own payload and goes straight to the payload's source).
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(err.source(), |&e| cause(e))
        // A guard against a chain that loops.
        .take(32)
}

fn cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match err
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(payload) => Some(payload),
        None => err.source(),
    }
}

fn find<T: StdError + 'static>(err: &reqwest::Error) -> Option<&T> {
    chain(err).find_map(|e| e.downcast_ref::<T>())
}

/// reqwest's message and its causes', joined with ": "; the error must have lost its URL
/// first ([`reqwest::Error::without_url`]): the URL's query may carry a secret.
fn describe(err: &reqwest::Error) -> String {
    let mut out = vec![err.to_string()];
    for message in chain(err).map(ToString::to_string) {
        // An io::Error repeats its payload's message.
        if !message.is_empty() && out.last().is_none_or(|last| !last.contains(&message)) {
            out.push(message);
        }
    }
    out.join(": ")
}
