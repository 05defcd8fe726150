//! Redaction: what is left of a URL, a form body or a parse error once every secret is out.
//! Every URL this workspace shows in an error message or a log goes through [`url`].
//!
//! ```
//! use mastodon_auth_core::redact;
//! assert_eq!(
//!     redact::url("https://user:hunter2@social.example/oauth/token?code=C0DE&lang=de"),
//!     "https://user:***@social.example/oauth/token?[redacted]"
//! );
//! assert_eq!(redact::form("username=alice&password=hunter2"), "username=alice&password=[redacted]");
//! ```

/// Form and query parameters whose values are secrets. The client's debug logs redact them;
/// code that logs requests of its own (a test server, a proxy) can use the same list.
///
/// ```
/// assert!(mastodon_auth_core::SECRET_PARAMETERS.contains(&"client_secret"));
/// ```
pub const SECRET_PARAMETERS: &[&str] = &[
    "access_token",
    "bearer_token",
    "client_secret",
    "code",
    "code_verifier",
    "password",
    "refresh_token",
    "token",
];

/// What replaces a secret parameter's value, and a URL's query or fragment.
const HIDDEN_VALUE: &str = "[redacted]";

/// What replaces the password (or a lone user part, which may be a token) of a URL.
const HIDDEN_USERINFO: &str = "***";

/// `url` as it may be shown in a message or a log: scheme, host, port and path as written;
/// the password of the user-info part becomes `***` (a user part without a password, which
/// is how tokens are often written, becomes `***` whole); a query or a fragment becomes
/// `?[redacted]` / `#[redacted]`, since any of their values may be a secret (a code, a token,
/// a signature) whatever its name. Works on any text, valid URL or not (a scheme is optional).
///
/// ```
/// use mastodon_auth_core::redact;
/// assert_eq!(redact::url("https://user:pw@x.example"), "https://user:***@x.example");
/// assert_eq!(redact::url("https://TOKEN@x.example/a"), "https://***@x.example/a");
/// assert_eq!(redact::url("x.example/cb#access_token=T&state=S"), "x.example/cb#[redacted]");
/// assert_eq!(redact::url("https://x.example/a?b=1"), "https://x.example/a?[redacted]");
/// ```
#[must_use]
pub fn url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(authority_end);
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, _)) => (r, true),
        None => (rest, false),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, _)) => (p, true),
        None => (rest, false),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            if let Some((user, _password)) = userinfo.split_once(':') {
                out.push_str(user);
                out.push(':');
            }
            out.push_str(HIDDEN_USERINFO);
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    out.push_str(path);
    if query {
        out.push('?');
        out.push_str(HIDDEN_VALUE);
    }
    if fragment {
        out.push('#');
        out.push_str(HIDDEN_VALUE);
    }
    out
}

/// An `application/x-www-form-urlencoded` body (or query) with the values of
/// [`SECRET_PARAMETERS`] replaced by `[redacted]`; every other pair is kept as written.
///
/// ```
/// use mastodon_auth_core::redact;
/// assert_eq!(redact::form("grant_type=password&password=p&scope=read"), "grant_type=password&password=[redacted]&scope=read");
/// ```
#[must_use]
pub fn form(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    for (i, pair) in encoded.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if is_secret(key) => {
                out.push_str(key);
                out.push('=');
                out.push_str(HIDDEN_VALUE);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// `true` when the (still encoded) `key` names a secret parameter.
fn is_secret(key: &str) -> bool {
    form_urlencoded::parse(key.as_bytes())
        .next()
        .is_some_and(|(k, _)| SECRET_PARAMETERS.contains(&k.as_ref()))
}

/// What went wrong parsing JSON, without quoting any value from the document: serde's
/// messages for a value of the wrong type quote the value (`invalid type: string "…"`), which
/// in a token answer or a credential file is a secret. Messages that only name a field
/// (`missing field`, `unknown field`) and syntax errors are kept; the position is left out
/// (callers that want it have [`serde_json::Error::line`] and `column`).
///
/// ```
/// use mastodon_auth_core::redact;
/// #[derive(serde::Deserialize, Debug)]
/// struct Token { #[allow(dead_code)] n: u32 }
/// let err = serde_json::from_str::<Token>(r#"{"n": "SECRET"}"#).unwrap_err();
/// assert_eq!(redact::json_error(&err), "a field has a value of the wrong type or form");
/// let err = serde_json::from_str::<Token>("{}").unwrap_err();
/// assert_eq!(redact::json_error(&err), "missing field `n`");
/// ```
#[must_use]
pub fn json_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let without_position = message
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .to_owned();
    match e.classify() {
        serde_json::error::Category::Data
            if !(without_position.starts_with("missing field")
                || without_position.starts_with("unknown field")) =>
        {
            "a field has a value of the wrong type or form".to_owned()
        }
        _ => without_position,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_redaction_hides_every_secret_field() {
        let body = crate::form::encode([
            ("username", "alice@localhost"),
            ("password", "hunter2"),
            ("client_secret", "CSEC"),
            ("code", "CODE"),
            ("code_verifier", "VER"),
            ("refresh_token", "RT"),
            ("token", "TOK"),
            ("scope", "read"),
        ]);
        let red = form(&body);
        for secret in ["hunter2", "CSEC", "CODE", "VER", "RT", "TOK"] {
            assert!(!red.contains(secret), "{red}");
        }
        assert!(red.contains("username=alice%40localhost") && red.contains("scope=read"));
        // An encoded key is still recognised.
        assert_eq!(form("%63ode=C"), "%63ode=[redacted]");
    }

    #[test]
    fn url_redaction_hides_userinfo_and_secret_parameters() {
        assert_eq!(
            url("https://x/a?access_token=T&lang=de"),
            "https://x/a?[redacted]"
        );
        assert_eq!(
            url("https://user:hunter2@example.com"),
            "https://user:***@example.com"
        );
        assert_eq!(url("user:hunter2@example.com/x"), "user:***@example.com/x");
        assert_eq!(
            url("http://u:p@h:1/p?code=C#token=T"),
            "http://u:***@h:1/p?[redacted]#[redacted]"
        );
        assert_eq!(url("https://h/p#f?x"), "https://h/p#[redacted]");
        // A password with an @ in it: the host is after the last one.
        assert_eq!(url("https://u:p@ss@h/"), "https://u:***@h/");
        assert_eq!(url("not a url"), "not a url");
        assert_eq!(url(""), "");
    }
}
