//! The base URL of an instance, normalised the way Mastodon.py normalises it.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::redact;

/// The base URL of a Mastodon (or Mastodon-API) instance.
///
/// Normalised as Mastodon.py does (`https://` is added when no scheme is given, trailing
/// slashes are removed), except that the scheme is recognised case-insensitively
/// (`HTTPS://x` is `https://x`, not Mastodon.py's `https://HTTPS://x`). Unlike Mastodon.py it
/// is validated before anything is sent: it must be `http` or `https`, have a host, carry no
/// user info, query or fragment, and a port, when given, must be a number from 1 to 65535
/// (the scheme's default port is dropped: `https://x:443` is `https://x`).
///
/// An international host name is converted to its ASCII form (punycode, by UTS #46 as
/// browsers do), since that is what DNS, TLS certificates and the `Host` header use:
/// `bücher.example` is `xn--bcher-kva.example`.
///
/// ```
/// use mastodon_auth_core::InstanceUrl;
/// let url: InstanceUrl = "mastodon.social/".parse()?;
/// assert_eq!(url.as_str(), "https://mastodon.social");
/// assert_eq!(url.host(), "mastodon.social");
/// assert_eq!(url.join("/api/v1/apps"), "https://mastodon.social/api/v1/apps");
/// assert!("https://user@x.example".parse::<InstanceUrl>().is_err());
///
/// let local: InstanceUrl = "http://localhost:3000".parse()?;
/// assert_eq!((local.host(), local.port()), ("localhost", Some(3000)));
/// assert!("http://127.0.0.1:99999".parse::<InstanceUrl>().is_err());
///
/// assert_eq!(InstanceUrl::parse("bücher.example")?.host(), "xn--bcher-kva.example");
/// # Ok::<(), mastodon_auth_core::InstanceUrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceUrl {
    url: String,
    host_start: usize,
    host_end: usize,
    /// A port other than the scheme's default.
    port: Option<u16>,
}

impl InstanceUrl {
    /// Normalises and validates `input`.
    ///
    /// # Errors
    /// [`InstanceUrlError`] naming what is wrong with the URL (shown without its password).
    pub fn parse(input: &str) -> Result<Self, InstanceUrlError> {
        let trimmed = input.trim();
        let fail = |problem| InstanceUrlError {
            url: redact::url(trimmed),
            problem,
        };
        if trimmed.is_empty() {
            return Err(fail(UrlProblem::Empty));
        }
        let (scheme, rest) = split_scheme(trimmed).ok_or_else(|| fail(UrlProblem::Scheme))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('?') {
            return Err(fail(UrlProblem::Query));
        }
        if rest.contains('#') {
            return Err(fail(UrlProblem::Fragment));
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(fail(UrlProblem::UserInfo));
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(UrlProblem::WhiteSpace));
        }
        let (host, port) = split_port(authority).map_err(fail)?;
        if host.is_empty() {
            return Err(fail(UrlProblem::NoHost));
        }
        // Host names are case-insensitive (RFC 3986 §6.2.2.1): `LOCALHOST` is `localhost`,
        // so that one instance has one URL, and so one app and one account key.
        let host = ascii_host(host).map_err(fail)?.to_ascii_lowercase();
        let port = port.filter(|p| *p != default_port(scheme));
        let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
        let url = format!("{scheme}://{host}{port_text}{path}");
        // http::Uri checks the characters of the host and the path for us.
        if let Err(e) = url.parse::<http::Uri>() {
            return Err(fail(UrlProblem::Syntax(e.to_string())));
        }
        let host_start = scheme.len() + 3;
        Ok(Self {
            host_end: host_start + host.len(),
            host_start,
            url,
            port,
        })
    }

    /// The normalised URL, without a trailing slash.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host name, lower-cased (IPv6 literals keep their brackets), in its ASCII form for
    /// an international name.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.url[self.host_start..self.host_end]
    }

    /// The port, when it is not the scheme's default (`None` for `https://x` and
    /// `https://x:443`).
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host[:port]`, with the port only when it is not the scheme's default: what tells two
    /// instances on one machine apart (`localhost:3000`).
    #[must_use]
    pub fn authority(&self) -> &str {
        let end = self.url[self.host_end..]
            .find('/')
            .map_or(self.url.len(), |i| self.host_end + i);
        &self.url[self.host_start..end]
    }

    /// `true` for `https` URLs.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.url.starts_with("https://")
    }

    /// `true` when the host is this machine (`localhost`, `127.0.0.0/8`, `[::1]`): see
    /// [`is_loopback_host`].
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host())
    }

    /// The URL of `path` (which should start with `/`) on this instance.
    #[must_use]
    pub fn join(&self, path: &str) -> String {
        let mut out = String::with_capacity(self.url.len() + path.len());
        out.push_str(&self.url);
        out.push_str(path);
        out
    }

    /// `scheme://authority` of this instance, for same-origin checks.
    #[must_use]
    pub fn origin(&self) -> &str {
        let end = self.host_start + self.authority().len();
        &self.url[..end]
    }
}

/// An instance URL that cannot be used: the URL (without its password) and what is wrong with
/// it. Converts into [`Error::InvalidUrl`](crate::Error::InvalidUrl).
///
/// ```
/// use mastodon_auth_core::{InstanceUrl, InstanceUrlError, UrlProblem};
/// let err = InstanceUrl::parse("https://alice:hunter2@social.example").unwrap_err();
/// assert_eq!(err.problem, UrlProblem::UserInfo);
/// assert!(!err.to_string().contains("hunter2"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceUrlError {
    /// The URL as given, password masked ([`redact::url`](crate::redact::url)).
    pub url: String,
    /// What is wrong with it.
    pub problem: UrlProblem,
}

impl fmt::Display for InstanceUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid instance URL {:?}: {}", self.url, self.problem)
    }
}

impl std::error::Error for InstanceUrlError {}

/// What is wrong with a URL: an instance URL given by the caller, or an OAuth endpoint named
/// by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlProblem {
    /// Nothing was given.
    Empty,
    /// The scheme is neither `http` nor `https`.
    Scheme,
    /// There is no host.
    NoHost,
    /// The host cannot be used: not a valid name or address, or an international name that
    /// cannot be converted to its ASCII (punycode) form. Says why.
    Host(String),
    /// The port is not a number from 1 to 65535.
    Port(String),
    /// The URL carries a user name or password.
    UserInfo,
    /// The URL carries a query.
    Query,
    /// The URL carries a fragment.
    Fragment,
    /// The URL contains white space or control characters.
    WhiteSpace,
    /// Plain `http` to a host that is not this machine, without the `allow_http` opt-in.
    PlainHttp,
    /// Not a URL at all (the parser's message).
    Syntax(String),
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlProblem::Empty => f.write_str("an instance URL is required"),
            UrlProblem::Scheme => f.write_str("the scheme must be http or https"),
            UrlProblem::NoHost => f.write_str("there is no host"),
            UrlProblem::Host(why) => write!(f, "the host is not usable: {why}"),
            UrlProblem::Port(port) => {
                write!(f, "the port {port:?} is not a number from 1 to 65535")
            }
            UrlProblem::UserInfo => {
                f.write_str("user names and passwords do not belong in the URL")
            }
            UrlProblem::Query => f.write_str("it cannot carry a query"),
            UrlProblem::Fragment => f.write_str("it cannot carry a fragment"),
            UrlProblem::WhiteSpace => f.write_str("it contains white space or control characters"),
            UrlProblem::Syntax(why) => write!(f, "it is not a valid URL: {why}"),
            UrlProblem::PlainHttp => f.write_str(
                "plain http is only used for loopback hosts (localhost, 127.0.0.0/8, [::1]); \
                 use https, or opt in with allow_http(true) for a development server",
            ),
        }
    }
}

/// `true` when `host` (as found in a URL: an IPv6 address in brackets, an optional trailing
/// dot) names this machine: `localhost`, an address in `127.0.0.0/8`, `[::1]`, or an
/// IPv4-mapped loopback address. The client and the transport allow plain HTTP to these
/// hosts without the `allow_http` opt-in: the traffic never leaves the machine.
///
/// ```
/// use mastodon_auth_core::is_loopback_host;
/// assert!(is_loopback_host("localhost") && is_loopback_host("127.8.9.10") && is_loopback_host("[::1]"));
/// assert!(!is_loopback_host("localhost.example.com") && !is_loopback_host("10.0.0.1"));
/// ```
#[must_use]
pub fn is_loopback_host(host: &str) -> bool {
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

/// The scheme (lower-cased; `https` when none is given) and what follows `://`; `None` for a
/// scheme other than http and https.
fn split_scheme(url: &str) -> Option<(&'static str, &str)> {
    match url.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("https") => Some(("https", r)),
        Some((s, r)) if s.eq_ignore_ascii_case("http") => Some(("http", r)),
        Some((s, _))
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            None
        }
        _ => Some(("https", url)),
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
}

/// Splits `host[:port]` (IPv6 hosts in brackets) and checks the port: 1 to 65535, in ASCII
/// digits. A port like `99999`, `-1` or `3000x` would otherwise be dropped by some parsers
/// and the request sent to the default port instead.
pub(crate) fn split_port(authority: &str) -> Result<(&str, Option<u16>), UrlProblem> {
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (host, after) = authority.split_at(end + 1);
                match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if after.is_empty() => (host, None),
                    None => return Err(UrlProblem::Host(format!("{after:?} follows the address"))),
                }
            }
            None => return Err(UrlProblem::Host("the IPv6 address has no closing ]".into())),
        }
    } else {
        match authority.split_once(':') {
            Some((_, rest)) if rest.contains(':') => {
                return Err(UrlProblem::Host(
                    "an IPv6 address must be written in brackets ([::1])".into(),
                ));
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| p.parse::<u16>().ok())
                .flatten()
                .filter(|&n| n != 0)
                .ok_or_else(|| UrlProblem::Port(p.chars().take(16).collect()))?,
        ),
    };
    Ok((host, port))
}

/// The host in ASCII: as written when it is ASCII already, else its punycode form.
pub(crate) fn ascii_host(host: &str) -> Result<Cow<'_, str>, UrlProblem> {
    if host.is_ascii() {
        return Ok(Cow::Borrowed(host));
    }
    idna::domain_to_ascii(host).map(Cow::Owned).map_err(|_| {
        UrlProblem::Host(
            "this international name has no valid ASCII (punycode) form; give the xn-- form".into(),
        )
    })
}

impl fmt::Display for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl fmt::Debug for InstanceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceUrl({:?})", self.url)
    }
}

impl FromStr for InstanceUrl {
    type Err = InstanceUrlError;
    fn from_str(s: &str) -> Result<Self, InstanceUrlError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for InstanceUrl {
    type Error = InstanceUrlError;
    fn try_from(s: String) -> Result<Self, InstanceUrlError> {
        Self::parse(&s)
    }
}

impl TryFrom<&str> for InstanceUrl {
    type Error = InstanceUrlError;
    fn try_from(s: &str) -> Result<Self, InstanceUrlError> {
        Self::parse(s)
    }
}

impl From<InstanceUrl> for String {
    fn from(u: InstanceUrl) -> String {
        u.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        InstanceUrl::parse(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn normalises_like_mastodon_py() {
        // Mastodon.py's `__protocolize` and its trailing-slash removal in `__init__`.
        assert_eq!(norm("example.com"), "https://example.com");
        assert_eq!(norm("example.com/"), "https://example.com");
        assert_eq!(norm("http://example.com//"), "http://example.com");
        assert_eq!(norm("https://example.com/sub/"), "https://example.com/sub");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(norm("HTTPS://example.com"), "https://example.com");
        assert_eq!(norm("Http://127.0.0.1:3000/"), "http://127.0.0.1:3000");
    }

    #[test]
    fn host_and_origin() {
        let u = InstanceUrl::parse("https://Example.com:8443/sub").unwrap();
        assert_eq!(u.host(), "example.com");
        assert_eq!(u.origin(), "https://example.com:8443");
        let v6 = InstanceUrl::parse("http://[::1]:3000").unwrap();
        assert_eq!(v6.host(), "[::1]");
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        for (input, why) in [
            ("", "required"),
            ("ftp://example.com", "http or https"),
            ("https://", "no host"),
            ("https://a@b.example", "user names"),
            ("https://example.com/?x=1", "query"),
            ("https://example.com/#frag", "fragment"),
            ("https://exa mple.com", "white space"),
            ("https://exa\u{7}mple.com", "control"),
        ] {
            let err = InstanceUrl::parse(input).unwrap_err().to_string();
            assert!(err.contains(why), "{input:?}: {err}");
        }
    }

    #[test]
    fn the_error_names_the_url_and_the_problem() {
        let err = InstanceUrl::parse(" ftp://x.example ").unwrap_err();
        assert_eq!(
            err,
            InstanceUrlError {
                url: "ftp://x.example".into(),
                problem: UrlProblem::Scheme
            }
        );
        assert_eq!(
            err.to_string(),
            r#"invalid instance URL "ftp://x.example": the scheme must be http or https"#
        );
        assert_eq!(
            InstanceUrl::parse("https://x.example:0")
                .unwrap_err()
                .to_string(),
            r#"invalid instance URL "https://x.example:0": the port "0" is not a number from 1 to 65535"#
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let u: InstanceUrl = serde_json::from_str("\"example.com/\"").unwrap();
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            "\"https://example.com\""
        );
        assert!(serde_json::from_str::<InstanceUrl>("\"ftp://x\"").is_err());
    }

    /// Issue 25: `--instance http://LOCALHOST:3000` registered a second app, as another
    /// instance.
    #[test]
    fn host_names_are_lower_cased_so_one_instance_has_one_url() {
        let upper = InstanceUrl::parse("http://LOCALHOST:3000/").unwrap();
        assert_eq!(upper, InstanceUrl::parse("http://localhost:3000").unwrap());
        assert_eq!(upper.host(), "localhost");
        assert_eq!(
            InstanceUrl::parse("Social.Example").unwrap().as_str(),
            "https://social.example"
        );
    }

    #[test]
    fn default_ports_are_dropped_and_others_kept() {
        assert_eq!(norm("https://example.com:443/"), "https://example.com");
        assert_eq!(norm("http://example.com:80"), "http://example.com");
        assert_eq!(norm("http://example.com:443"), "http://example.com:443");
        assert_eq!(
            norm("https://example.com:08443"),
            "https://example.com:8443"
        );
        let u = InstanceUrl::parse("https://example.com:8443/sub").unwrap();
        assert_eq!(u.authority(), "example.com:8443");
        assert_eq!(
            InstanceUrl::parse("https://example.com/sub")
                .unwrap()
                .authority(),
            "example.com"
        );
    }

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
}
