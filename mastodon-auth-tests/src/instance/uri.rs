//! Redirect URIs: Doorkeeper's validation at registration and its matching at authorization.

use std::net::IpAddr;

pub(crate) const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
const OOB_AUTO: &str = "urn:ietf:wg:oauth:2.0:oob:auto";

pub(crate) fn is_oob(uri: &str) -> bool {
    uri == OOB || uri == OOB_AUTO
}

/// An RFC 3986 reference split into its parts, roughly as Ruby's `URI.parse` splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uri {
    pub(crate) scheme: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<String>,
    userinfo: Option<String>,
    has_authority: bool,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) fragment: Option<String>,
}

/// The reference is not a URI at all (Ruby raises `URI::InvalidURIError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidUri;

fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

impl Uri {
    pub(crate) fn parse(s: &str) -> Result<Self, InvalidUri> {
        if s.is_empty() || !s.chars().all(allowed_char) {
            return Err(InvalidUri);
        }
        let (rest, fragment) = match s.split_once('#') {
            Some((a, f)) => (a, Some(f.to_owned())),
            None => (s, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q.to_owned())),
            None => (rest, None),
        };
        let (scheme, rest) = match rest.find(':') {
            Some(i) if !rest[..i].contains('/') => {
                let scheme = &rest[..i];
                let valid = scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
                if !valid {
                    return Err(InvalidUri);
                }
                (Some(scheme.to_ascii_lowercase()), &rest[i + 1..])
            }
            _ => (None, rest),
        };
        let (has_authority, userinfo, host, port, path) =
            if let Some(after) = rest.strip_prefix("//") {
                let end = after.find('/').unwrap_or(after.len());
                let authority = &after[..end];
                let path = after[end..].to_owned();
                let (userinfo, hostport) = match authority.rsplit_once('@') {
                    Some((u, h)) => (Some(u.to_owned()), h),
                    None => (None, authority),
                };
                let (host, port) = split_host_port(hostport)?;
                (true, userinfo, Some(host), port, path)
            } else {
                (false, None, None, None, rest.to_owned())
            };
        Ok(Self {
            scheme,
            host,
            port,
            userinfo,
            has_authority,
            path,
            query,
            fragment,
        })
    }

    /// `mailto:x`, `localhost:3000/cb`: a scheme followed by something that is not a path.
    pub(crate) fn is_opaque(&self) -> bool {
        self.scheme.is_some()
            && !self.has_authority
            && !self.path.is_empty()
            && !self.path.starts_with('/')
    }

    fn is_http(&self) -> bool {
        matches!(self.scheme.as_deref(), Some("http" | "https"))
    }

    fn host_blank(&self) -> bool {
        self.host.as_deref().is_none_or(str::is_empty)
    }

    fn is_loopback(&self) -> bool {
        let Some(host) = self.host.as_deref() else {
            return false;
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    fn effective_port(&self) -> Option<String> {
        match (&self.port, self.scheme.as_deref()) {
            (Some(p), _) if !p.is_empty() => Some(p.clone()),
            (_, Some("http")) => Some("80".to_owned()),
            (_, Some("https")) => Some("443".to_owned()),
            _ => None,
        }
    }

    /// The parts compared by Ruby's `URI#==` after normalisation, without query.
    fn comparable(
        &self,
        ignore_port: bool,
    ) -> (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    ) {
        let path = if self.is_http() && self.path.is_empty() {
            "/".to_owned()
        } else {
            self.path.clone()
        };
        (
            self.scheme.clone(),
            self.userinfo.clone(),
            self.host.as_ref().map(|h| h.to_ascii_lowercase()),
            if ignore_port {
                None
            } else {
                self.effective_port()
            },
            path,
        )
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<String>), InvalidUri> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let end = rest.find(']').ok_or(InvalidUri)?;
        let host = format!("[{}]", &rest[..end]);
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.to_owned()),
            None if after.is_empty() => None,
            None => return Err(InvalidUri),
        };
        return check_port(host, port);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => check_port(h.to_owned(), Some(p.to_owned())),
        None => Ok((hostport.to_owned(), None)),
    }
}

fn check_port(host: String, port: Option<String>) -> Result<(String, Option<String>), InvalidUri> {
    if let Some(p) = &port
        && !p.chars().all(|c| c.is_ascii_digit())
    {
        return Err(InvalidUri);
    }
    Ok((host, port))
}

/// Doorkeeper's `RedirectUriValidator` messages for one registered URI, in its order.
pub(crate) fn registration_errors(uri: &str) -> Vec<&'static str> {
    if is_oob(uri) {
        return Vec::new();
    }
    let Ok(parsed) = Uri::parse(uri) else {
        return vec!["must be a valid URI."];
    };
    let mut errors = Vec::new();
    if matches!(
        parsed.scheme.as_deref(),
        Some("javascript" | "data" | "vbscript")
    ) {
        errors.push("is forbidden by the server.");
    }
    if parsed.fragment.is_some() {
        errors.push("cannot contain a fragment.");
    }
    if parsed.is_opaque() || parsed.scheme.as_deref() == Some("localhost") {
        errors.push("must specify a scheme.");
    }
    if parsed.scheme.is_none() && parsed.host.is_none() {
        errors.push("must be an absolute URI.");
    }
    if parsed.is_http() && parsed.host_blank() {
        errors.push("must be a valid URI.");
    }
    errors
}

/// Doorkeeper's `URIChecker.valid?` for a redirect URI in an authorization request.
fn valid_for_request(uri: &Uri) -> bool {
    uri.scheme.as_deref().is_some_and(|s| s != "localhost")
        && !(uri.is_http() && uri.host_blank())
        && uri.fragment.is_none()
        && !uri.is_opaque()
}

fn query_set(q: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
    parts.sort_unstable();
    parts.dedup();
    parts
}

/// Whether `requested` may be used with an app whose registered URIs are `registered`:
/// exact match; the request's query is ignored unless the registered URI has one (then the
/// sets must be equal); for loopback IP literals the port is ignored (RFC 8252 §7.3), but
/// not for the name `localhost`.
pub(crate) fn matches_registered(requested: &str, registered: &[String]) -> bool {
    if is_oob(requested) {
        return registered.iter().any(|r| r == requested);
    }
    let Ok(req) = Uri::parse(requested) else {
        return false;
    };
    if !valid_for_request(&req) {
        return false;
    }
    registered.iter().any(|r| {
        let Ok(reg) = Uri::parse(r) else {
            return false;
        };
        if let Some(reg_q) = &reg.query
            && query_set(reg_q) != query_set(req.query.as_deref().unwrap_or(""))
        {
            return false;
        }
        let loopback = req.is_loopback() && reg.is_loopback();
        req.comparable(loopback) == reg.comparable(loopback)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn registration_messages_follow_doorkeeper() {
        assert_eq!(registration_errors("/cb"), ["must be an absolute URI."]);
        assert_eq!(
            registration_errors("https://a/cb#x"),
            ["cannot contain a fragment."]
        );
        assert_eq!(
            registration_errors("localhost:3000/cb"),
            ["must specify a scheme."]
        );
        assert_eq!(registration_errors("mailto:x"), ["must specify a scheme."]);
        assert_eq!(registration_errors("http:///x"), ["must be a valid URI."]);
        assert_eq!(
            registration_errors("javascript:alert(1)"),
            ["is forbidden by the server.", "must specify a scheme."]
        );
        assert!(registration_errors("http://127.0.0.1:8080/cb").is_empty());
        assert!(registration_errors(OOB).is_empty());
        assert!(registration_errors("com.example.app:/oauth").is_empty());
    }

    #[test]
    fn loopback_ip_ports_are_ignored_but_localhost_ports_are_not() {
        let r = reg(&[
            "http://127.0.0.1:1234/cb",
            "http://[::1]:1/cb",
            "http://localhost:1/cb",
        ]);
        assert!(matches_registered("http://127.0.0.1:9999/cb", &r));
        assert!(matches_registered("http://[::1]:2/cb", &r));
        assert!(matches_registered("http://localhost:1/cb", &r));
        assert!(!matches_registered("http://localhost:2/cb", &r));
        assert!(!matches_registered("http://127.0.0.1:9999/other", &r));
    }

    #[test]
    fn queries_and_fragments() {
        let r = reg(&["https://a.example/cb"]);
        assert!(matches_registered("https://a.example/cb?x=1", &r));
        assert!(!matches_registered("https://a.example/cb#f", &r));
        let rq = reg(&["https://a.example/cb?a=1&b=2"]);
        assert!(matches_registered("https://a.example/cb?b=2&a=1", &rq));
        assert!(!matches_registered("https://a.example/cb?a=1", &rq));
        assert!(matches_registered(OOB, &reg(&[OOB])));
        assert!(!matches_registered(OOB, &r));
    }
}
