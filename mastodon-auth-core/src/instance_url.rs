//! The base URL of an instance, normalised the way Mastodon.py normalises it.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The base URL of a Mastodon (or Mastodon-API) instance.
///
/// Normalised as Mastodon.py does (`https://` is added when no scheme is given, trailing
/// slashes are removed), except that the scheme is recognised case-insensitively
/// (`HTTPS://x` is `https://x`, not Mastodon.py's `https://HTTPS://x`). Unlike Mastodon.py it
/// is validated: it must be `http` or `https`, have a host, and carry no user info, query or
/// fragment.
///
/// ```
/// use mastodon_auth_core::InstanceUrl;
/// let url: InstanceUrl = "mastodon.social/".parse()?;
/// assert_eq!(url.as_str(), "https://mastodon.social");
/// assert_eq!(url.host(), "mastodon.social");
/// assert_eq!(url.join("/api/v1/apps"), "https://mastodon.social/api/v1/apps");
/// assert!("https://user@x.example".parse::<InstanceUrl>().is_err());
/// # Ok::<(), mastodon_auth_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceUrl {
    url: String,
    host_start: usize,
    host_end: usize,
}

impl InstanceUrl {
    /// Normalises and validates `input`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming what is wrong with the URL.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let trimmed = input.trim();
        let bad =
            |why: &str| Error::InvalidArgument(format!("invalid instance URL {trimmed:?}: {why}"));
        if trimmed.is_empty() {
            return Err(Error::InvalidArgument("API base URL is required.".into()));
        }
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((s, r)) if s.eq_ignore_ascii_case("https") => ("https", r),
            Some((s, r)) if s.eq_ignore_ascii_case("http") => ("http", r),
            Some((s, _))
                if !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                return Err(bad("the scheme must be http or https"));
            }
            _ => ("https", trimmed),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('?') {
            return Err(bad("a base URL cannot carry a query"));
        }
        if rest.contains('#') {
            return Err(bad("a base URL cannot carry a fragment"));
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("user names and passwords do not belong in the URL"));
        }
        if authority.is_empty() {
            return Err(bad("there is no host"));
        }
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains white space"));
        }
        let url = format!("{scheme}://{rest}");
        // http::Uri checks the authority (host, optional port) for us.
        let uri: http::Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("there is no host"))?;
        let host_start = scheme.len() + 3 + authority.find(host).unwrap_or(0);
        Ok(Self {
            host_end: host_start + host.len(),
            host_start,
            url,
        })
    }

    /// The normalised URL, without a trailing slash.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host name (IPv6 literals keep their brackets), as written.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.url[self.host_start..self.host_end]
    }

    /// `true` for `https` URLs.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.url.starts_with("https://")
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
        let after_scheme = self.url.find("://").map_or(0, |i| i + 3);
        let end = self.url[after_scheme..]
            .find('/')
            .map_or(self.url.len(), |i| after_scheme + i);
        &self.url[..end]
    }
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
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for InstanceUrl {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(&s)
    }
}

impl TryFrom<&str> for InstanceUrl {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
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
        // mastodon-py.md §2.1 [probed] examples.
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
        assert_eq!(u.host(), "Example.com");
        assert_eq!(u.origin(), "https://Example.com:8443");
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
        ] {
            let err = InstanceUrl::parse(input).unwrap_err().to_string();
            assert!(err.contains(why), "{input:?}: {err}");
        }
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
}
