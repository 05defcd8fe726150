//! Which URLs the transport is willing to send to.

use http::Uri;
use mastodon_auth_core::{TransportError, is_loopback_host, redact};

/// The URL for a message: [`redact::url`], the one redaction every crate of the workspace
/// uses (no password, no secret parameter values).
pub(crate) fn redacted(uri: &Uri) -> String {
    redact::url(&uri.to_string())
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
    fn plain_http_to_a_public_host_is_refused_without_secrets() {
        let uri: Uri = "http://user:pw@example.com:8080/oauth/token?code=SECRET"
            .parse()
            .expect("valid uri");
        let err = check(&uri, false).expect_err("refused");
        assert_eq!(
            err,
            TransportError::InsecureUrl {
                url: "http://user:***@example.com:8080/oauth/token?[redacted]".into()
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
