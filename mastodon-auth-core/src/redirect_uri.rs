//! Redirect URIs, checked before they are registered or sent: where the server sends the
//! person's browser (and the authorization code) back.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::instance_url::is_loopback_host;
use crate::redact;

/// The out-of-band URN: the server shows the code for the person to copy.
const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// Schemes Mastodon refuses as redirect URIs (`forbid_redirect_uri` in Mastodon's
/// `config/initializers/doorkeeper.rb`): they run code in the browser instead of reaching an
/// app.
const FORBIDDEN_SCHEMES: [&str; 3] = ["data", "javascript", "vbscript"];

/// A redirect URI (RFC 6749 §3.1.2), checked: one of
///
/// - the out-of-band URN [`RedirectUri::OOB`] (`urn:ietf:wg:oauth:2.0:oob`): the server
///   shows the code for the person to copy;
/// - a loopback URI (RFC 8252 §7.3), `http` to `127.0.0.1`, `[::1]` or `localhost` (any
///   port, any path): a native app listening on this machine;
/// - an `https` URI: a web application;
/// - a private-use URI scheme (RFC 8252 §7.1), such as `com.example.app:/callback`: a native
///   app the operating system opens.
///
/// Refused, each with its own [`RedirectUriProblem`]: an empty URI, white space or control
/// characters (Mastodon registers several URIs as one newline-separated string), a fragment
/// (RFC 6749 §3.1.2), a relative URI, user info, plain `http` to any other host (the code
/// would cross the network unencrypted), and the schemes Mastodon refuses (`javascript`,
/// `data`, `vbscript`).
///
/// The URI is kept exactly as given: the server compares it as a string with the registered
/// one.
///
/// A private-use scheme is not required to be a reverse domain name, though RFC 8252 §7.1
/// asks apps to use one: apps in the wild register schemes like `oauth2redirect://…`, and
/// Mastodon accepts them.
///
/// ```
/// use mastodon_auth_core::{RedirectUri, RedirectUriProblem};
/// let web: RedirectUri = "https://app.example/callback".parse()?;
/// assert_eq!(web.as_str(), "https://app.example/callback");
/// assert!(RedirectUri::parse("http://127.0.0.1:8080/cb")?.is_loopback());
/// assert!(RedirectUri::parse("com.example.app:/callback").is_ok());
/// assert!(RedirectUri::OOB.is_oob());
///
/// let err = RedirectUri::parse("http://app.example/callback").unwrap_err();
/// assert_eq!(err.problem(), &RedirectUriProblem::PlainHttp);
/// assert!(RedirectUri::parse("https://app.example/cb#top").is_err());
/// # Ok::<(), mastodon_auth_core::RedirectUriError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri {
    uri: Cow<'static, str>,
    kind: Kind,
}

/// Which of the accepted forms a URI has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Oob,
    Loopback,
    Https,
    PrivateScheme,
}

impl RedirectUri {
    /// The out-of-band redirect URI, `urn:ietf:wg:oauth:2.0:oob`: the server shows the code
    /// for the person to copy (the default of `create_app` and `auth_request_url`).
    pub const OOB: RedirectUri = RedirectUri {
        uri: Cow::Borrowed(OOB),
        kind: Kind::Oob,
    };

    /// A redirect URI written in the source, checked at compile time when used in a constant:
    ///
    /// ```
    /// use mastodon_auth_core::RedirectUri;
    /// const CALLBACK: RedirectUri = RedirectUri::from_static("com.example.app:/callback");
    /// assert!(CALLBACK.is_private_scheme());
    /// ```
    ///
    /// It accepts a conservative part of what [`parse`](Self::parse) accepts: printable
    /// ASCII only, and for `http` only the hosts `127.0.0.1`, `[::1]` and `localhost`.
    ///
    /// # Panics
    /// When `uri` is not such a redirect URI; in a constant that is a compile error, like
    /// [`http::HeaderValue::from_static`]'s:
    ///
    /// ```compile_fail
    /// const BAD: mastodon_auth_core::RedirectUri =
    ///     mastodon_auth_core::RedirectUri::from_static("http://app.example/callback");
    /// ```
    #[must_use]
    pub const fn from_static(uri: &'static str) -> Self {
        let Some(kind) = const_classify(uri.as_bytes()) else {
            panic!("not a redirect URI RedirectUri::from_static accepts")
        };
        Self {
            uri: Cow::Borrowed(uri),
            kind,
        }
    }

    /// Checks `uri`.
    ///
    /// # Errors
    /// [`RedirectUriError`] with the [`RedirectUriProblem`] when it is none of the accepted
    /// forms.
    pub fn parse(uri: &str) -> Result<Self, RedirectUriError> {
        let kind = classify(uri).map_err(|problem| RedirectUriError {
            uri: redact::url(uri),
            problem,
        })?;
        Ok(Self {
            uri: Cow::Owned(uri.to_owned()),
            kind,
        })
    }

    /// The URI as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// `true` for the out-of-band URN.
    #[must_use]
    pub fn is_oob(&self) -> bool {
        self.kind == Kind::Oob
    }

    /// `true` for an `http` URI to this machine (RFC 8252 §7.3).
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        self.kind == Kind::Loopback
    }

    /// `true` for a private-use URI scheme (RFC 8252 §7.1).
    #[must_use]
    pub fn is_private_scheme(&self) -> bool {
        self.kind == Kind::PrivateScheme
    }
}

/// [`classify`] for [`RedirectUri::from_static`], in a `const fn`: `None` unless `uri` is
/// clearly one of the accepted forms (a subset of what `classify` accepts, as its test
/// checks).
const fn const_classify(uri: &[u8]) -> Option<Kind> {
    if bytes_eq(uri, OOB.as_bytes()) {
        return Some(Kind::Oob);
    }
    // Printable ASCII that RFC 3986 allows, without '#' (no fragment) and '%' (no escapes to
    // check); where the scheme ends.
    let mut colon = 0;
    let mut i = 0;
    while i < uri.len() {
        let c = uri[i];
        let allowed = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'?'
                    | b'['
                    | b']'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        if !allowed {
            return None;
        }
        if c == b':' && colon == 0 {
            colon = i;
        }
        i += 1;
    }
    if colon == 0 || !uri[0].is_ascii_alphabetic() {
        return None;
    }
    let mut i = 1;
    while i < colon {
        let c = uri[i];
        if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')) {
            return None;
        }
        i += 1;
    }
    let (scheme, rest) = uri.split_at(colon);
    let rest = rest.split_at(1).1;
    if bytes_eq_ignore_case(scheme, b"https") || bytes_eq_ignore_case(scheme, b"http") {
        let Some((b"//", after)) = rest.split_at_checked(2) else {
            return None;
        };
        // The host runs to the first '/', '?' or ':' (a port), unless it is bracketed.
        let mut end = 0;
        while end < after.len() && !matches!(after[end], b'/' | b'?') {
            if after[end] == b'@' {
                return None;
            }
            end += 1;
        }
        let authority = after.split_at(end).0;
        let host = host_of(authority);
        if host.is_empty() {
            return None;
        }
        if bytes_eq_ignore_case(scheme, b"https") {
            return Some(Kind::Https);
        }
        let loopback = bytes_eq(host, b"127.0.0.1")
            || bytes_eq(host, b"[::1]")
            || bytes_eq_ignore_case(host, b"localhost");
        return if loopback { Some(Kind::Loopback) } else { None };
    }
    let mut i = 0;
    while i < FORBIDDEN_SCHEMES.len() {
        if bytes_eq_ignore_case(scheme, FORBIDDEN_SCHEMES[i].as_bytes()) {
            return None;
        }
        i += 1;
    }
    if rest.is_empty() {
        None
    } else {
        Some(Kind::PrivateScheme)
    }
}

/// The host of an authority without user info: up to the port's ':', or the bracketed IPv6
/// literal with its brackets. Empty when the port is not digits.
const fn host_of(authority: &[u8]) -> &[u8] {
    let mut end = if let Some(b'[') = authority.first() {
        let mut i = 0;
        while i < authority.len() && authority[i] != b']' {
            i += 1;
        }
        if i == authority.len() {
            return &[];
        }
        i + 1
    } else {
        let mut i = 0;
        while i < authority.len() && authority[i] != b':' {
            i += 1;
        }
        i
    };
    let host = authority.split_at(end).0;
    if end < authority.len() {
        if authority[end] != b':' || end + 1 == authority.len() {
            return &[];
        }
        end += 1;
        while end < authority.len() {
            if !authority[end].is_ascii_digit() {
                return &[];
            }
            end += 1;
        }
    }
    host
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bytes_eq_ignore_case_or_exact(a, b, false)
}

const fn bytes_eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bytes_eq_ignore_case_or_exact(a, b, true)
}

const fn bytes_eq_ignore_case_or_exact(a: &[u8], b: &[u8], ignore_case: bool) -> bool {
    let mut i = 0;
    while i < a.len() {
        let (x, y) = if ignore_case {
            (a[i].to_ascii_lowercase(), b[i].to_ascii_lowercase())
        } else {
            (a[i], b[i])
        };
        if x != y {
            return false;
        }
        i += 1;
    }
    true
}

/// The form of `uri`, or why it has none of the accepted ones.
fn classify(uri: &str) -> Result<Kind, RedirectUriProblem> {
    if uri.is_empty() {
        return Err(RedirectUriProblem::Empty);
    }
    if uri == OOB {
        return Ok(Kind::Oob);
    }
    if let Some(c) = uri.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(RedirectUriProblem::Character(c));
    }
    if uri.contains('#') {
        return Err(RedirectUriProblem::Fragment);
    }
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
    let (scheme, rest) = uri.split_once(':').ok_or(RedirectUriProblem::Relative)?;
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(RedirectUriProblem::Relative);
    }
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "http" => {
            let host_first = rest
                .strip_prefix("//")
                .is_some_and(|r| !(r.is_empty() || r.starts_with(['/', '?', ':', '@'])));
            if !host_first {
                return Err(RedirectUriProblem::NoHost);
            }
            let parsed: http::Uri = uri
                .parse()
                .map_err(|e: http::uri::InvalidUri| RedirectUriProblem::Syntax(e.to_string()))?;
            let authority = parsed.authority().ok_or(RedirectUriProblem::NoHost)?;
            if authority.as_str().contains('@') {
                return Err(RedirectUriProblem::UserInfo);
            }
            if authority.host().is_empty() {
                return Err(RedirectUriProblem::NoHost);
            }
            if scheme == "https" {
                Ok(Kind::Https)
            } else if is_loopback_host(authority.host()) {
                Ok(Kind::Loopback)
            } else {
                Err(RedirectUriProblem::PlainHttp)
            }
        }
        s if FORBIDDEN_SCHEMES.contains(&s) => Err(RedirectUriProblem::ForbiddenScheme),
        _ if rest.is_empty() => Err(RedirectUriProblem::Syntax(
            "nothing follows the scheme".to_owned(),
        )),
        _ => Ok(Kind::PrivateScheme),
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedirectUri({:?})", self.uri)
    }
}

impl FromStr for RedirectUri {
    type Err = RedirectUriError;
    fn from_str(s: &str) -> Result<Self, RedirectUriError> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for RedirectUri {
    type Error = RedirectUriError;
    fn try_from(s: &str) -> Result<Self, RedirectUriError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = RedirectUriError;
    fn try_from(s: String) -> Result<Self, RedirectUriError> {
        let kind = classify(&s).map_err(|problem| RedirectUriError {
            uri: redact::url(&s),
            problem,
        })?;
        Ok(Self {
            uri: Cow::Owned(s),
            kind,
        })
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> Self {
        uri.uri.into_owned()
    }
}

impl AsRef<str> for RedirectUri {
    fn as_ref(&self) -> &str {
        &self.uri
    }
}

impl serde::Serialize for RedirectUri {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.uri)
    }
}

impl<'de> serde::Deserialize<'de> for RedirectUri {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::try_from(s).map_err(serde::de::Error::custom)
    }
}

/// A redirect URI that is none of the forms [`RedirectUri`] accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid redirect URI {uri:?}: {problem}")]
pub struct RedirectUriError {
    uri: String,
    problem: RedirectUriProblem,
}

impl RedirectUriError {
    /// The URI as given, without its query or password ([`redact::url`]).
    #[must_use]
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// What is wrong with it.
    #[must_use]
    pub fn problem(&self) -> &RedirectUriProblem {
        &self.problem
    }
}

/// What is wrong with a redirect URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectUriProblem {
    /// Nothing was given.
    #[error("it is empty")]
    Empty,
    /// White space or a control character, which no URI has (and a newline would split the
    /// newline-separated list an app is registered with).
    #[error("it contains the character {0:?}")]
    Character(char),
    /// A fragment (`#…`), which RFC 6749 §3.1.2 forbids.
    #[error("it has a fragment (#…), which a redirect URI must not have")]
    Fragment,
    /// No scheme: a relative URI.
    #[error(
        "it is not an absolute URI (use https://…, http://127.0.0.1…, a private-use scheme \
         such as com.example.app:/callback, or urn:ietf:wg:oauth:2.0:oob)"
    )]
    Relative,
    /// An `http` or `https` URI without a host.
    #[error("it has no host")]
    NoHost,
    /// User info (`user@`) before the host.
    #[error("it has user info (user@host), which a redirect URI must not have")]
    UserInfo,
    /// Plain `http` to a host other than this machine.
    #[error(
        "plain http is only for this machine (127.0.0.1, [::1], localhost): the code would \
         cross the network unencrypted; use https"
    )]
    PlainHttp,
    /// A scheme that runs code in the browser (`javascript`, `data`, `vbscript`), which
    /// Mastodon refuses.
    #[error("its scheme runs code in the browser instead of reaching an app")]
    ForbiddenScheme,
    /// Otherwise malformed, as the URI parser says.
    #[error("{0}")]
    Syntax(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(uri: &str) -> RedirectUriProblem {
        match RedirectUri::parse(uri) {
            Err(e) => e.problem,
            Ok(ok) => panic!("{uri}: accepted as {:?}", ok.kind),
        }
    }

    #[test]
    fn accepted_forms() {
        let kind = |uri: &str| RedirectUri::parse(uri).unwrap().kind;
        assert_eq!(kind("urn:ietf:wg:oauth:2.0:oob"), Kind::Oob);
        for loopback in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:45678/callback",
            "http://[::1]:8080/",
            "http://localhost",
            "HTTP://LOCALHOST:3000/cb?x=1",
        ] {
            assert_eq!(kind(loopback), Kind::Loopback, "{loopback}");
        }
        for https in [
            "https://app.example/cb",
            "https://app.example:8443/a/b?c=d",
            "HTTPS://App.Example",
        ] {
            assert_eq!(kind(https), Kind::Https, "{https}");
        }
        for private in [
            "com.example.app:/callback",
            "com.example.app://callback",
            "oauth2redirect://com.keylesspalace.tusky/",
            "urn:ietf:wg:oauth:2.0:oob:auto",
        ] {
            assert_eq!(kind(private), Kind::PrivateScheme, "{private}");
        }
        assert_eq!(RedirectUri::OOB, RedirectUri::parse(OOB).unwrap());
        assert_eq!(
            RedirectUri::parse("HTTPS://App.Example").unwrap().as_str(),
            "HTTPS://App.Example",
            "kept as given"
        );
    }

    #[test]
    fn refused_forms() {
        assert_eq!(problem(""), RedirectUriProblem::Empty);
        assert_eq!(problem(" "), RedirectUriProblem::Character(' '));
        assert_eq!(
            problem("https://a.example/cb\nhttps://b.example/cb"),
            RedirectUriProblem::Character('\n')
        );
        assert_eq!(
            problem("https://a.example/cb#x"),
            RedirectUriProblem::Fragment
        );
        assert_eq!(problem("/callback"), RedirectUriProblem::Relative);
        assert_eq!(
            problem("app.example/callback"),
            RedirectUriProblem::Relative
        );
        assert_eq!(problem("1app:/cb"), RedirectUriProblem::Relative);
        assert_eq!(problem("https:///cb"), RedirectUriProblem::NoHost);
        assert_eq!(problem("https:/cb"), RedirectUriProblem::NoHost);
        assert_eq!(problem("http://:80/cb"), RedirectUriProblem::NoHost);
        assert_eq!(problem("https:"), RedirectUriProblem::NoHost);
        assert_eq!(
            problem("https://u:p@a.example/cb"),
            RedirectUriProblem::UserInfo
        );
        for remote in [
            "http://app.example/cb",
            "http://10.0.0.1/cb",
            "http://localhost.example/cb",
        ] {
            assert_eq!(problem(remote), RedirectUriProblem::PlainHttp, "{remote}");
        }
        assert_eq!(
            problem("javascript:alert(1)"),
            RedirectUriProblem::ForbiddenScheme
        );
        assert_eq!(
            problem("DATA:text/html,x"),
            RedirectUriProblem::ForbiddenScheme
        );
        assert!(matches!(problem("myapp:"), RedirectUriProblem::Syntax(_)));
        assert!(matches!(
            problem("https://a b/"),
            RedirectUriProblem::Character(' ')
        ));
        assert!(matches!(
            problem("https://[::1/"),
            RedirectUriProblem::Syntax(_)
        ));
    }

    #[test]
    fn from_static_accepts_a_part_of_what_parse_accepts_and_agrees_on_it() {
        for uri in [
            OOB,
            "http://127.0.0.1/callback",
            "http://127.0.0.1:45678/callback",
            "http://[::1]:8080/",
            "http://localhost",
            "HTTP://LocalHost:3000/cb?x=1",
            "https://app.example/cb",
            "https://app.example:8443/a/b?c=d&e=f",
            "com.example.app:/callback",
            "oauth2redirect://com.keylesspalace.tusky/",
        ] {
            let parsed = RedirectUri::parse(uri).unwrap();
            assert_eq!(const_classify(uri.as_bytes()), Some(parsed.kind), "{uri}");
        }
        for uri in [
            "",
            "http://app.example/cb",
            "http://127.0.0.2/cb",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:8x/cb",
            "http://[::1/cb",
            "https:///cb",
            "https://u@a.example/",
            "https://a.example/#f",
            "https://a.example/%41",
            "https://a b/",
            "javascript:alert(1)",
            "myapp:",
            "/cb",
            "1app:/cb",
            "https://ünicode.example/",
        ] {
            assert_eq!(const_classify(uri.as_bytes()), None, "{uri}");
        }
        const CALLBACK: RedirectUri = RedirectUri::from_static("http://127.0.0.1/callback");
        assert!(CALLBACK.is_loopback());
        assert_eq!(
            CALLBACK,
            RedirectUri::parse("http://127.0.0.1/callback").unwrap()
        );
    }

    #[test]
    fn errors_say_what_and_hide_passwords_and_queries() {
        let err = RedirectUri::parse("http://app.example/cb?token=hunter2").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("http://app.example/cb"), "{text}");
        assert!(text.contains("use https"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let err = RedirectUri::parse("https://u:hunter2@a.example/").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn serde_checks_what_it_reads() {
        let uri = RedirectUri::parse("com.example.app:/cb").unwrap();
        let json = serde_json::to_string(&uri).unwrap();
        assert_eq!(json, "\"com.example.app:/cb\"");
        assert_eq!(serde_json::from_str::<RedirectUri>(&json).unwrap(), uri);
        let err = serde_json::from_str::<RedirectUri>("\"http://app.example/\"").unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
    }
}
