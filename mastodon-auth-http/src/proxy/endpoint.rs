//! One proxy, parsed and checked from its URL.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderValue, Uri};
use mastodon_auth_core::TransportError;
use percent_encoding::percent_decode_str;

use crate::error::{BuildError, ProxyOrigin};
use mastodon_auth_core::is_loopback_host;

/// How the transport talks to a proxy.
#[derive(Clone)]
pub(crate) enum Protocol {
    /// An HTTP proxy: a CONNECT tunnel (RFC 9110, section 9.3.6) for https targets,
    /// absolute-form requests (RFC 9112, section 3.2.2) for plain-http ones.
    Http {
        /// `Basic` credentials from the URL's user-info, marked sensitive.
        authorization: Option<HeaderValue>,
    },
    /// A SOCKS5 proxy (RFC 1928), with the username/password method (RFC 1929) when the URL
    /// carries credentials.
    Socks5 {
        /// `socks5h`: the proxy resolves the target's name; `socks5`: this machine does.
        remote_dns: bool,
        /// The URL's user-info.
        login: Option<Login>,
    },
}

/// SOCKS5 username and password. Deliberately without `Debug`.
#[derive(Clone)]
pub(crate) struct Login {
    pub(crate) user: String,
    pub(crate) password: String,
}

/// A proxy the transport may send requests through.
#[derive(Clone)]
pub(crate) struct ProxyEndpoint {
    pub(crate) protocol: Protocol,
    /// `host:port`: the only way the proxy is ever shown, in errors and `Debug`.
    pub(crate) authority: String,
    /// `http://host:port/`, what the TCP connector dials to reach the proxy.
    pub(crate) dial: Uri,
    /// Whether the proxy runs on this machine.
    pub(crate) loopback: bool,
}

impl fmt::Debug for ProxyEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = match &self.protocol {
            Protocol::Http { authorization } => authorization.is_some(),
            Protocol::Socks5 { login, .. } => login.is_some(),
        };
        let shown = self.url();
        if credentials {
            write!(f, "{:?}", shown.replacen("://", "://***@", 1))
        } else {
            write!(f, "{shown:?}")
        }
    }
}

/// RFC 1929 sends the username and the password each behind a one-byte length.
const SOCKS5_CREDENTIAL_MAX: usize = 255;

impl ProxyEndpoint {
    /// Parses a proxy URL as curl accepts them: `[scheme://][user[:password]@]host[:port][/]`,
    /// where a missing scheme means `http`, and percent-encoded credentials are decoded.
    pub(crate) fn parse(raw: &str, origin: ProxyOrigin) -> Result<Self, BuildError> {
        let invalid = |reason: &str| BuildError::Proxy {
            origin,
            url: redact(raw),
            reason: reason.to_owned(),
        };
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid("the URL is empty"));
        }
        let with_scheme;
        let full = if raw.contains("://") {
            raw
        } else {
            with_scheme = format!("http://{raw}");
            &with_scheme
        };
        let uri: Uri = full.parse().map_err(|_| {
            invalid("not a valid URL (percent-encode special characters in the credentials)")
        })?;
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let (default_port, http) = match scheme.as_str() {
            "http" => (80, true),
            // RFC 1928, section 3: the SOCKS service is conventionally on port 1080.
            "socks5" | "socks5h" => (1080, false),
            "https" => {
                return Err(invalid(
                    "TLS to the proxy itself is not supported; use an http:// proxy URL \
                     (https targets are still tunnelled with TLS end to end)",
                ));
            }
            "socks4" | "socks4a" => {
                return Err(invalid("SOCKS4 is not supported; use socks5 or socks5h"));
            }
            _ => return Err(invalid("unsupported scheme; use http, socks5 or socks5h")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("the URL has no host"))?;
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(invalid("a proxy URL has no path or query"));
        }
        let port = uri.port_u16().unwrap_or(default_port);
        let authority = format!("{host}:{port}");
        let userinfo = uri
            .authority()
            .and_then(|a| a.as_str().rsplit_once('@'))
            .map(|(userinfo, _)| userinfo);
        let credentials = userinfo
            .map(|userinfo| {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |part: &str| {
                    percent_decode_str(part)
                        .decode_utf8()
                        .map(std::borrow::Cow::into_owned)
                        .map_err(|_| invalid("the credentials are not UTF-8 once percent-decoded"))
                };
                Ok::<_, BuildError>((decode(user)?, decode(password)?))
            })
            .transpose()?;
        let protocol = if http {
            Protocol::Http {
                authorization: credentials.map(|(user, password)| basic(&user, &password)),
            }
        } else {
            let login = credentials
                .map(|(user, password)| {
                    if user.len() > SOCKS5_CREDENTIAL_MAX || password.len() > SOCKS5_CREDENTIAL_MAX
                    {
                        Err(invalid(
                            "SOCKS5 user names and passwords are at most 255 bytes",
                        ))
                    } else {
                        Ok(Login { user, password })
                    }
                })
                .transpose()?;
            Protocol::Socks5 {
                remote_dns: scheme == "socks5h",
                login,
            }
        };
        let dial = format!("http://{authority}/")
            .parse()
            .map_err(|_| invalid("the host is not valid"))?;
        Ok(ProxyEndpoint {
            protocol,
            loopback: is_loopback_host(host),
            authority,
            dial,
        })
    }

    /// `scheme://host:port`, without credentials.
    pub(crate) fn url(&self) -> String {
        let scheme = match self.protocol {
            Protocol::Http { .. } => "http",
            Protocol::Socks5 {
                remote_dns: false, ..
            } => "socks5",
            Protocol::Socks5 {
                remote_dns: true, ..
            } => "socks5h",
        };
        format!("{scheme}://{}", self.authority)
    }

    /// The typed error for this proxy.
    pub(crate) fn failure(
        &self,
        status: Option<u16>,
        message: impl Into<String>,
    ) -> TransportError {
        TransportError::Proxy {
            proxy: self.authority.clone(),
            status,
            message: message.into(),
        }
    }
}

/// `Basic base64(user:password)` (RFC 7617), marked sensitive so hyper never logs it.
fn basic(user: &str, password: &str) -> HeaderValue {
    let mut value = HeaderValue::try_from(format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}"))
    ))
    .expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// `raw` with anything before its last `@` (after the scheme) replaced by `***`, so that an
/// error can quote a proxy URL, even a malformed one, without its password.
pub(crate) fn redact(raw: &str) -> String {
    let raw = raw.trim();
    let Some((_, host)) = raw.rsplit_once('@') else {
        return raw.to_owned();
    };
    let scheme = raw.find("://").map_or("", |i| &raw[..i + 3]);
    format!("{scheme}***@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<ProxyEndpoint, BuildError> {
        ProxyEndpoint::parse(raw, ProxyOrigin::Builder)
    }

    fn reason(raw: &str) -> String {
        match parse(raw) {
            Err(BuildError::Proxy { reason, .. }) => reason,
            other => panic!("{raw}: expected a proxy error, got {other:?}"),
        }
    }

    #[test]
    fn an_http_proxy_url_with_credentials_becomes_a_basic_header() {
        let proxy = parse("http://alice:s3cret%20p%40ss@127.0.0.1:3128/").expect("valid");
        assert_eq!(proxy.authority, "127.0.0.1:3128");
        assert_eq!(proxy.dial, "http://127.0.0.1:3128/");
        assert!(proxy.loopback);
        let Protocol::Http {
            authorization: Some(value),
        } = &proxy.protocol
        else {
            panic!("expected HTTP with credentials");
        };
        assert!(value.is_sensitive());
        let expected = format!("Basic {}", BASE64.encode("alice:s3cret p@ss"));
        assert_eq!(value, expected.as_str());
    }

    #[test]
    fn the_scheme_defaults_to_http_and_ports_to_the_protocol_default() {
        let proxy = parse("proxy.example").expect("valid");
        assert_eq!(proxy.url(), "http://proxy.example:80");
        assert!(!proxy.loopback);
        let proxy = parse("SOCKS5H://[::1]").expect("valid");
        assert_eq!(proxy.url(), "socks5h://[::1]:1080");
        assert!(proxy.loopback);
        assert!(matches!(
            proxy.protocol,
            Protocol::Socks5 {
                remote_dns: true,
                login: None
            }
        ));
    }

    #[test]
    fn socks5_credentials_are_kept_raw() {
        let proxy = parse("socks5://bob:pw@127.0.0.1:1080").expect("valid");
        let Protocol::Socks5 {
            remote_dns: false,
            login: Some(login),
        } = &proxy.protocol
        else {
            panic!("expected socks5 with a login");
        };
        assert_eq!(
            (login.user.as_str(), login.password.as_str()),
            ("bob", "pw")
        );
        let long = format!("socks5://{}:pw@127.0.0.1:1080", "u".repeat(256));
        assert!(reason(&long).contains("255 bytes"));
    }

    #[test]
    fn unusable_urls_are_refused_with_a_reason() {
        assert!(reason("").contains("empty"));
        assert!(reason("https://proxy.example:443").contains("TLS to the proxy"));
        assert!(reason("socks4://proxy.example:1080").contains("SOCKS4"));
        assert!(reason("ftp://proxy.example").contains("unsupported scheme"));
        assert!(reason("http://proxy.example:3128/path").contains("no path"));
        assert!(reason("http://exa mple:3128").contains("not a valid URL"));
        assert!(reason("http://:3128").contains("no host"));
    }

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let err = parse("ftp://alice:hunter2@proxy.example:21").expect_err("bad scheme");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(shown.contains("ftp://***@proxy.example:21"), "{shown}");

        let malformed = parse("http://alice:hun ter2@proxy.example").expect_err("space");
        assert!(!format!("{malformed:?}").contains("hun"), "{malformed:?}");

        let proxy = parse("http://alice:hunter2@proxy.example:3128").expect("valid");
        let shown = format!("{proxy:?}");
        assert_eq!(shown, "\"http://***@proxy.example:3128\"");
    }

    #[test]
    fn redaction_keeps_the_scheme_and_host_only() {
        assert_eq!(redact("http://u:p@h:1"), "http://***@h:1");
        assert_eq!(redact("u:p@w@h:1"), "***@h:1");
        assert_eq!(redact("socks5://h:1080"), "socks5://h:1080");
    }
}
