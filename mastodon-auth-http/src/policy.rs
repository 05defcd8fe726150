//! Which URLs the transport is willing to send to.

use std::net::IpAddr;

use http::Uri;
use mastodon_auth_core::TransportError;

/// Whether `host` (as found in a URI, IPv6 in brackets) names this machine.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Scheme, host, port and path of `uri`: never the query (it may carry a code or token) nor
/// any user-info.
pub(crate) fn redacted(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("");
    let host = uri.host().unwrap_or("");
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", uri.path())
}

/// Refuses URLs the transport must not send to, before any connection is made.
pub(crate) fn check(uri: &Uri, allow_http: bool) -> Result<(), TransportError> {
    let Some(scheme) = uri.scheme_str() else {
        return Err(TransportError::InvalidRequest(format!(
            "the URL {} has no scheme; use an absolute https:// URL",
            redacted(uri)
        )));
    };
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return Err(TransportError::InvalidRequest(format!(
            "the URL {} has no host",
            redacted(uri)
        )));
    };
    if scheme.eq_ignore_ascii_case("https") {
        Ok(())
    } else if scheme.eq_ignore_ascii_case("http") {
        if allow_http || is_loopback_host(host) {
            Ok(())
        } else {
            Err(TransportError::InsecureUrl { url: redacted(uri) })
        }
    } else {
        Err(TransportError::InvalidRequest(format!(
            "unsupported URL scheme {scheme:?} in {}; only https (and http to loopback) is sent",
            redacted(uri)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_are_recognised() {
        for host in [
            "localhost",
            "LOCALHOST.",
            "127.0.0.1",
            "127.5.6.7",
            "[::1]",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "localhost.example.com",
            "128.0.0.1",
            "[::2]",
            "10.0.0.1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn plain_http_to_a_public_host_is_refused_without_the_query() {
        let uri: Uri = "http://user:pw@example.com:8080/oauth/token?code=SECRET"
            .parse()
            .expect("valid uri");
        let err = check(&uri, false).expect_err("refused");
        assert_eq!(
            err,
            TransportError::InsecureUrl {
                url: "http://example.com:8080/oauth/token".into()
            }
        );
        let shown = err.to_string();
        assert!(
            !shown.contains("SECRET") && !shown.contains("pw"),
            "{shown}"
        );
    }

    #[test]
    fn plain_http_is_allowed_to_loopback_or_when_enabled() {
        let local: Uri = "http://127.0.0.1:3000/api".parse().expect("valid uri");
        assert!(check(&local, false).is_ok());
        let public: Uri = "http://example.com/".parse().expect("valid uri");
        assert!(check(&public, true).is_ok());
    }

    #[test]
    fn other_schemes_and_relative_urls_are_invalid_requests() {
        for url in ["ftp://example.com/", "/api/v1/instance"] {
            let uri: Uri = url.parse().expect("valid uri");
            assert!(
                matches!(check(&uri, true), Err(TransportError::InvalidRequest(_))),
                "{url}"
            );
        }
    }
}
