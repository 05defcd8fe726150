//! What the local instance remembers of each request, for assertions, with secrets redacted.

/// Stands in for a redacted value in [`RecordedRequest`].
pub const REDACTED: &str = "[redacted]";

/// One request the local instance received.
///
/// The `Authorization` header keeps only its scheme (`Bearer [redacted]`), and the values of
/// secret parameters (core's [`SECRET_PARAMETERS`](mastodon_auth_core::SECRET_PARAMETERS):
/// `client_secret`, `password`, `code`, `code_verifier`, `token`, `access_token`,
/// `bearer_token`, `refresh_token`) are replaced by [`REDACTED`], in the query
/// and in the body alike, so a recording can be printed safely.
///
/// ```
/// # use mastodon_auth_tests::RecordedRequest;
/// fn sent_pkce(req: &RecordedRequest) -> bool {
///     req.path == "/oauth/token" && req.form("code_verifier").is_some()
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// Query parameters in order, secrets redacted.
    pub query: Vec<(String, String)>,
    /// Headers in order with lower-case names; `Authorization` redacted.
    pub headers: Vec<(String, String)>,
    /// Body parameters in order (form-urlencoded, or the top level of a JSON object with
    /// arrays flattened to repeated `name[]` entries), secrets redacted.
    pub form: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first header with this name (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first body parameter with this name.
    #[must_use]
    pub fn form(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter with this name.
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The value to record for parameter `name`.
pub(crate) fn redact_param(name: &str, value: &str) -> String {
    let base = name.strip_suffix("[]").unwrap_or(name);
    if mastodon_auth_core::SECRET_PARAMETERS.contains(&base) {
        REDACTED.to_owned()
    } else {
        value.to_owned()
    }
}

/// The value to record for header `name`.
pub(crate) fn redact_header(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("cookie") {
        match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} {REDACTED}"),
            None => REDACTED.to_owned(),
        }
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_other_values_kept() {
        assert_eq!(redact_param("client_secret", "s3cret"), REDACTED);
        assert_eq!(redact_param("code_verifier", "v"), REDACTED);
        assert_eq!(redact_param("client_id", "abc"), "abc");
        assert_eq!(
            redact_header("Authorization", "Bearer tok"),
            "Bearer [redacted]"
        );
        assert_eq!(redact_header("authorization", "tok"), REDACTED);
        assert_eq!(redact_header("accept", "*/*"), "*/*");
    }
}
