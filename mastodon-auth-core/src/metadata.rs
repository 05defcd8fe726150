//! OAuth authorization server metadata (RFC 8414, Mastodon ≥ 4.3).

use serde_json::{Map, Value};

/// The document at `/.well-known/oauth-authorization-server`.
///
/// Parsed leniently: a field that is absent, `null` or of the wrong type is `None` (Mastodon.py's
/// `oauth_authorization_server_info` users crash on such documents), so the client falls back
/// to `/oauth/*`.
///
/// ```
/// use mastodon_auth_core::OAuthServerInfo;
/// let info = OAuthServerInfo::from_json(br#"{"issuer":"https://x/","grant_types_supported":["authorization_code"],"code_challenge_methods_supported":["S256"],"token_endpoint":null}"#)
///     .expect("a JSON object");
/// assert!(info.supports_grant("authorization_code"));
/// assert_eq!(info.supports_grant("password"), false);
/// assert!(info.supports_pkce_s256());
/// assert_eq!(info.token_endpoint, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct OAuthServerInfo {
    /// `issuer`.
    pub issuer: Option<String>,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`.
    pub token_endpoint: Option<String>,
    /// `revocation_endpoint`.
    pub revocation_endpoint: Option<String>,
    /// `userinfo_endpoint` (Mastodon ≥ 4.4).
    pub userinfo_endpoint: Option<String>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// `response_types_supported`.
    pub response_types_supported: Option<Vec<String>>,
    /// `response_modes_supported`.
    pub response_modes_supported: Option<Vec<String>>,
    /// `grant_types_supported`.
    pub grant_types_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// `code_challenge_methods_supported`.
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// `service_documentation`.
    pub service_documentation: Option<String>,
    /// `app_registration_endpoint` (Mastodon's non-standard name).
    pub app_registration_endpoint: Option<String>,
    /// Every other key the server sent.
    pub extra: Map<String, Value>,
}

impl OAuthServerInfo {
    /// Parses a metadata document; `None` unless it is a JSON object.
    #[must_use]
    pub fn from_json(body: &[u8]) -> Option<Self> {
        let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
            return None;
        };
        let mut string = |k: &str| match map.remove(k) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let (
            issuer,
            authorization_endpoint,
            token_endpoint,
            revocation_endpoint,
            userinfo_endpoint,
        ) = (
            string("issuer"),
            string("authorization_endpoint"),
            string("token_endpoint"),
            string("revocation_endpoint"),
            string("userinfo_endpoint"),
        );
        let (service_documentation, app_registration_endpoint) = (
            string("service_documentation"),
            string("app_registration_endpoint"),
        );
        let mut list = |k: &str| match map.remove(k) {
            Some(Value::Array(items)) => Some(
                items
                    .into_iter()
                    .filter_map(|v| {
                        if let Value::String(s) = v {
                            Some(s)
                        } else {
                            None
                        }
                    })
                    .collect(),
            ),
            _ => None,
        };
        Some(Self {
            issuer,
            authorization_endpoint,
            token_endpoint,
            revocation_endpoint,
            userinfo_endpoint,
            scopes_supported: list("scopes_supported"),
            response_types_supported: list("response_types_supported"),
            response_modes_supported: list("response_modes_supported"),
            grant_types_supported: list("grant_types_supported"),
            token_endpoint_auth_methods_supported: list("token_endpoint_auth_methods_supported"),
            code_challenge_methods_supported: list("code_challenge_methods_supported"),
            service_documentation,
            app_registration_endpoint,
            extra: map,
        })
    }

    /// `Some(true/false)` when the server lists its grant types, `None` when it does not say.
    #[must_use]
    pub fn grant_listed(&self, grant: &str) -> Option<bool> {
        self.grant_types_supported
            .as_ref()
            .map(|g| g.iter().any(|x| x == grant))
    }

    /// `true` unless the server lists its grant types and `grant` is not among them.
    #[must_use]
    pub fn supports_grant(&self, grant: &str) -> bool {
        self.grant_listed(grant).unwrap_or(true)
    }

    /// `true` when the server advertises PKCE with S256.
    #[must_use]
    pub fn supports_pkce_s256(&self) -> bool {
        self.code_challenge_methods_supported
            .as_ref()
            .is_some_and(|m| m.iter().any(|x| x == "S256"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_and_nulls_are_absent() {
        let info = OAuthServerInfo::from_json(
            br#"{"authorization_endpoint": 5, "grant_types_supported": "password", "userinfo_endpoint": null, "x": 1}"#,
        )
        .unwrap();
        assert_eq!(info.authorization_endpoint, None);
        assert_eq!(info.grant_types_supported, None);
        assert_eq!(info.userinfo_endpoint, None);
        assert!(info.supports_grant("password"));
        assert_eq!(info.extra.get("x"), Some(&Value::from(1)));
    }

    #[test]
    fn html_or_arrays_are_not_metadata() {
        assert_eq!(
            OAuthServerInfo::from_json(b"<html><body>Akkoma</body></html>"),
            None
        );
        assert_eq!(OAuthServerInfo::from_json(b"[]"), None);
        assert_eq!(OAuthServerInfo::from_json(b""), None);
    }
}
