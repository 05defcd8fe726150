//! Turning hyper, hyper-util, rustls and io errors into core's typed [`TransportError`].

use std::error::Error as StdError;
use std::fmt;

use mastodon_auth_core::{TlsFailure, TransportError};

use crate::proxy::ProxyEndpoint;

/// An error produced by the resolver wrapper, so a DNS failure is recognisable after
/// hyper-util has wrapped it.
#[derive(Debug)]
pub(crate) struct DnsFailure {
    pub(crate) host: String,
    pub(crate) source: std::io::Error,
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not resolve {}", self.host)
    }
}

impl StdError for DnsFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// Marks errors that happened before TLS started (resolving, TCP connect), so the
/// outer connector can tell a refused port from a failed handshake.
#[derive(Debug)]
pub(crate) struct TcpStageError(pub(crate) Box<dyn StdError + Send + Sync>);

impl fmt::Display for TcpStageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for TcpStageError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// A connection failure already classified where the context was known (the outer connector
/// knows the host, the dialling layer the proxy), carried through hyper-rustls's and
/// hyper-util's error wrapping to [`crate::HyperTransport::send`].
#[derive(Debug)]
pub(crate) struct ConnectFailure(pub(crate) TransportError);

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for ConnectFailure {}

/// Every error in the chain starting at `err`, including the errors that `io::Error` hides:
/// `io::Error::source` skips its own payload, so the payload is visited explicitly.
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        // A guard against pathological cyclic or endless chains.
        if out.len() >= 32 {
            break;
        }
        out.push(e);
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(err).into_iter().find_map(|e| e.downcast_ref::<T>())
}

/// The messages of the chain joined with ": ", skipping a message already contained in the
/// previous one (io::Error repeats its payload's message).
pub(crate) fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for e in chain(err) {
        let msg = e.to_string();
        if msg.is_empty() || last.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
        last = msg;
    }
    out
}

/// Classifies a failure to open the TCP connection to `proxy`.
pub(crate) fn proxy_unreachable(
    err: &(dyn StdError + 'static),
    proxy: &ProxyEndpoint,
) -> TransportError {
    let message = match find::<DnsFailure>(err) {
        Some(dns) => format!("could not resolve the proxy's host: {}", dns.source),
        None => format!("could not connect to the proxy: {}", describe(err)),
    };
    proxy.failure(None, message)
}

/// Classifies an error from the TLS connector (which wraps the dialling layer).
pub(crate) fn connect_error(
    err: &(dyn StdError + 'static),
    host: &str,
    authority: &str,
) -> TransportError {
    if let Some(ConnectFailure(classified)) = find::<ConnectFailure>(err) {
        return classified.clone();
    }
    if let Some(dns) = find::<DnsFailure>(err) {
        return TransportError::Dns {
            host: dns.host.clone(),
            message: dns.source.to_string(),
        };
    }
    if let Some(tls) = find::<rustls::Error>(err) {
        return TransportError::Tls {
            host: host.to_owned(),
            reason: TlsFailure::from_rustls(tls),
            message: tls.to_string(),
        };
    }
    if find::<TcpStageError>(err).is_some() {
        return TransportError::Connect {
            authority: Some(authority.to_owned()),
            message: describe(err),
        };
    }
    // Past TCP, anything else (EOF or reset mid-handshake) is the TLS exchange failing.
    TransportError::Tls {
        host: host.to_owned(),
        reason: TlsFailure::Protocol,
        message: describe(err),
    }
}

/// Classifies an error returned by the pooled client for one request.
pub(crate) fn request_error(err: &hyper_util::client::legacy::Error) -> TransportError {
    let err: &(dyn StdError + 'static) = err;
    if let Some(ConnectFailure(classified)) = find::<ConnectFailure>(err) {
        return classified.clone();
    }
    // hyper's own error says what happened; hyper-util's wrapper adds only noise.
    let hyper_err = find::<hyper::Error>(err);
    let message = match hyper_err {
        Some(h) => describe(h),
        None => describe(err),
    };
    if let Some(h) = hyper_err {
        if h.is_parse() || h.is_parse_status() {
            return TransportError::InvalidResponse { message };
        }
        if h.is_user() {
            return TransportError::InvalidRequest(message);
        }
    }
    TransportError::ConnectionClosed { message }
}

/// Classifies an error met while reading the response body.
pub(crate) fn body_error(err: &hyper::Error) -> TransportError {
    TransportError::ConnectionClosed {
        message: describe(err),
    }
}

#[cfg(test)]
mod tests {
    use rustls::CertificateError;

    use super::*;

    #[test]
    fn tls_error_inside_io_error_is_found() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let got = connect_error(&io, "example.org", "example.org:443");
        assert!(
            matches!(
                got,
                TransportError::Tls {
                    reason: TlsFailure::UnknownIssuer,
                    ..
                }
            ),
            "{got:?}"
        );
    }

    #[test]
    fn certificate_errors_map_to_their_reason() {
        let cases = [
            (CertificateError::NotValidForName, TlsFailure::NameMismatch),
            (CertificateError::Expired, TlsFailure::Expired),
            (CertificateError::NotValidYet, TlsFailure::Expired),
            (CertificateError::BadSignature, TlsFailure::Other),
        ];
        for (cert, want) in cases {
            assert_eq!(
                TlsFailure::from_rustls(&rustls::Error::InvalidCertificate(cert.clone())),
                want,
                "{cert:?}"
            );
        }
    }

    #[test]
    fn describe_does_not_repeat_the_io_payload() {
        let io = std::io::Error::other(DnsFailure {
            host: "h.example".into(),
            source: std::io::Error::other("no such host"),
        });
        assert_eq!(describe(&io), "could not resolve h.example: no such host");
    }
}
