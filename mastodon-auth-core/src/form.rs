//! Form and query encoding as Mastodon.py does it (`quote_plus`: space → `+`, `:` → `%3A`),
//! and the redaction applied before anything reaches a log.

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

/// `key=value&…` in order, `application/x-www-form-urlencoded`.
pub(crate) fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The same encoding with secret values replaced by `[redacted]`, for logs.
pub(crate) fn redact(encoded: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(encoded.as_bytes()) {
        if SECRET_PARAMETERS.contains(&k.as_ref()) {
            s.append_pair(&k, "[redacted]");
        } else {
            s.append_pair(&k, &v);
        }
    }
    s.finish()
}

/// A URL with the secret values of its query redacted.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{base}?{}", redact(query)),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python_quote_plus() {
        assert_eq!(
            encode(&[
                ("client_name", "mastodon.py generated test app"),
                ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob")
            ]),
            "client_name=mastodon.py+generated+test+app&redirect_uris=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob"
        );
        assert_eq!(
            encode(&[("state", "xyz 1&2"), ("email", "a@b"), ("u", "a\nb")]),
            "state=xyz+1%262&email=a%40b&u=a%0Ab"
        );
    }

    #[test]
    fn redaction_hides_every_secret_field() {
        let body = encode(&[
            ("username", "alice@localhost"),
            ("password", "hunter2"),
            ("client_secret", "CSEC"),
            ("code", "CODE"),
            ("code_verifier", "VER"),
            ("refresh_token", "RT"),
            ("token", "TOK"),
            ("scope", "read"),
        ]);
        let red = redact(&body);
        for secret in ["hunter2", "CSEC", "CODE", "VER", "RT", "TOK"] {
            assert!(!red.contains(secret), "{red}");
        }
        assert!(red.contains("username=alice%40localhost") && red.contains("scope=read"));
        assert_eq!(
            redact_url("https://x/a?access_token=T&lang=de"),
            "https://x/a?access_token=%5Bredacted%5D&lang=de"
        );
    }
}
