//! Form and query encoding as Mastodon.py does it (`quote_plus`: space → `+`, `:` → `%3A`).

/// `key=value&…` in order, `application/x-www-form-urlencoded`.
pub(crate) fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python_quote_plus() {
        assert_eq!(
            encode([
                ("client_name", "mastodon.py generated test app"),
                ("redirect_uris", "urn:ietf:wg:oauth:2.0:oob")
            ]),
            "client_name=mastodon.py+generated+test+app&redirect_uris=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob"
        );
        assert_eq!(
            encode([("state", "xyz 1&2"), ("email", "a@b"), ("u", "a\nb")]),
            "state=xyz+1%262&email=a%40b&u=a%0Ab"
        );
    }
}
