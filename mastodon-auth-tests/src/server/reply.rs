//! Answers as the handlers build them, before they become hyper responses.

use bytes::Bytes;

/// How the body goes on the wire.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Full(Bytes),
    /// Send `sent`, while `Content-Length` claims `declared`, then drop the connection.
    Truncated {
        declared: usize,
        sent: Bytes,
    },
    /// Drop the connection without answering.
    Reset,
}

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
}

pub(crate) const JSON: &str = "application/json; charset=utf-8";

impl Reply {
    pub(crate) fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: Body::Full(body.into()),
        }
    }

    pub(crate) fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, JSON, body)
    }

    pub(crate) fn html(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, "text/html; charset=utf-8", body)
    }

    /// `{"error": message}`, the body of every Mastodon API error.
    pub(crate) fn api_error(status: u16, message: &str) -> Self {
        Self::json(status, object(&[("error", message.into())]))
    }

    pub(crate) fn not_found() -> Self {
        Self::api_error(404, "Not Found")
    }

    pub(crate) fn redirect(location: &str) -> Self {
        Self::html(
            302,
            format!(
                "<html><body>You are being <a href=\"{}\">redirected</a>.</body></html>",
                html_escape(location)
            ),
        )
        .with("location", location)
    }

    pub(crate) fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets (replaces) a header.
    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A JSON object with its keys in the given order (serde_json's map would sort them).
pub(crate) fn object(fields: &[(&str, serde_json::Value)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::from(*k).to_string());
        out.push(':');
        out.push_str(&v.to_string());
    }
    out.push('}');
    out
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Doorkeeper replaces characters a quoted-string may not hold (outside %x20-21 / %x23-5B /
/// %x5D-7E) with `_` in `WWW-Authenticate`.
pub(crate) fn www_authenticate(error: &str, description: &str) -> String {
    let clean: String = description
        .chars()
        .map(|c| match c {
            '\x20' | '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e' => c,
            _ => '_',
        })
        .collect();
    format!("Bearer realm=\"Doorkeeper\", error=\"{error}\", error_description=\"{clean}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keeps_key_order() {
        let s = object(&[("b", 1.into()), ("a", "x".into())]);
        assert_eq!(s, r#"{"b":1,"a":"x"}"#);
    }

    #[test]
    fn www_authenticate_replaces_quotes_and_non_ascii() {
        assert_eq!(
            www_authenticate("invalid_token", "say \"hi\" é"),
            r#"Bearer realm="Doorkeeper", error="invalid_token", error_description="say _hi_ _""#
        );
    }
}
