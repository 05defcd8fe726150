//! The `error` codes of OAuth error responses.

use std::convert::Infallible;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// An OAuth error code: the `error` of an error response from the token endpoint (RFC 6749
/// section 5.2), of an authorization callback (section 4.1.2.1), of the revocation endpoint
/// (RFC 7009 section 2.2.1) or of a bearer-token challenge (RFC 6750 section 3.1, which
/// Doorkeeper, Mastodon's OAuth server, sends as `invalid_token`).
///
/// Parsing never fails: a code this list does not name is [`Other`](Self::Other), kept as
/// the server spelled it. Codes compare (and hash) by their text, so
/// `OAuthErrorCode::Other("invalid_grant".into())` equals [`InvalidGrant`](Self::InvalidGrant);
/// still, a code that a later version names would stop matching an `Other` pattern, so branch
/// on the named variants and use [`as_str`](Self::as_str) for the rest.
///
/// Serialized as its string.
///
/// ```
/// use mastodon_auth_core::OAuthErrorCode;
/// let code: OAuthErrorCode = "invalid_grant".parse().unwrap();
/// assert_eq!(code, OAuthErrorCode::InvalidGrant);
/// assert_eq!(code.to_string(), "invalid_grant");
/// let other = OAuthErrorCode::from("invalid_dpop_proof");
/// assert_eq!(other, OAuthErrorCode::Other("invalid_dpop_proof".into()));
/// assert_eq!(other.as_str(), "invalid_dpop_proof");
/// ```
#[derive(Debug, Clone, Eq)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`: a parameter is missing, repeated or malformed (RFC 6749 §5.2,
    /// §4.1.2.1).
    InvalidRequest,
    /// `invalid_client`: the client id or secret is wrong, or the client is unknown (§5.2).
    InvalidClient,
    /// `invalid_grant`: the authorization code, refresh token or password is invalid,
    /// expired, revoked or was issued to another client (§5.2).
    InvalidGrant,
    /// `unauthorized_client`: this client may not use this grant, or (RFC 7009, Doorkeeper)
    /// revoke this token (§5.2, §4.1.2.1).
    UnauthorizedClient,
    /// `unsupported_grant_type`: the server does not offer this grant (§5.2).
    UnsupportedGrantType,
    /// `invalid_scope`: a requested scope is unknown, malformed or more than the app's
    /// (§5.2, §4.1.2.1).
    InvalidScope,
    /// `access_denied`: the person (or the server) declined the authorization (§4.1.2.1).
    AccessDenied,
    /// `unsupported_response_type`: the server does not offer this `response_type`
    /// (§4.1.2.1).
    UnsupportedResponseType,
    /// `server_error`: the server failed (§4.1.2.1).
    ServerError,
    /// `temporarily_unavailable`: the server is overloaded or in maintenance (§4.1.2.1).
    TemporarilyUnavailable,
    /// `unsupported_token_type`: the server cannot revoke this kind of token (RFC 7009
    /// §2.2.1).
    UnsupportedTokenType,
    /// `invalid_token`: the access token is expired, revoked or malformed (RFC 6750 §3.1;
    /// Doorkeeper's `WWW-Authenticate` challenge).
    InvalidToken,
    /// `insufficient_scope`: the token lacks a scope the request needs (RFC 6750 §3.1).
    InsufficientScope,
    /// Any other code, as the server spelled it.
    Other(String),
}

/// Every named code: what parsing looks a text up in ([`OAuthErrorCode::as_str`] spells each).
const NAMED: &[OAuthErrorCode] = &[
    OAuthErrorCode::InvalidRequest,
    OAuthErrorCode::InvalidClient,
    OAuthErrorCode::InvalidGrant,
    OAuthErrorCode::UnauthorizedClient,
    OAuthErrorCode::UnsupportedGrantType,
    OAuthErrorCode::InvalidScope,
    OAuthErrorCode::AccessDenied,
    OAuthErrorCode::UnsupportedResponseType,
    OAuthErrorCode::ServerError,
    OAuthErrorCode::TemporarilyUnavailable,
    OAuthErrorCode::UnsupportedTokenType,
    OAuthErrorCode::InvalidToken,
    OAuthErrorCode::InsufficientScope,
];

impl OAuthErrorCode {
    /// The code as it is sent (`invalid_grant`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::InsufficientScope => "insufficient_scope",
            OAuthErrorCode::Other(code) => code,
        }
    }

    /// The named code spelled `text`, if there is one.
    fn named(text: &str) -> Option<Self> {
        NAMED.iter().find(|c| c.as_str() == text).cloned()
    }

    /// The code `text` is, if it has the shape of one: one or more lower-case ASCII letters,
    /// digits and `_` (the shape of every code the RFCs register). `None` for anything else,
    /// such as the sentence Mastodon's API puts in `error` (`"Record not found"`).
    #[must_use]
    pub fn recognize(text: &str) -> Option<Self> {
        let shaped = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        shaped.then(|| Self::from(text))
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for OAuthErrorCode {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Hash for OAuthErrorCode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl From<&str> for OAuthErrorCode {
    fn from(code: &str) -> Self {
        Self::named(code).unwrap_or_else(|| Self::Other(code.to_owned()))
    }
}

impl From<String> for OAuthErrorCode {
    fn from(code: String) -> Self {
        Self::named(&code).unwrap_or(Self::Other(code))
    }
}

impl FromStr for OAuthErrorCode {
    type Err = Infallible;
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(Self::from(s))
    }
}

impl serde::Serialize for OAuthErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for OAuthErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_parses_to_itself_and_prints_as_sent() {
        for code in NAMED {
            let text = code.as_str();
            let parsed: OAuthErrorCode = text.parse().unwrap();
            assert_eq!(&parsed, code);
            assert!(!matches!(parsed, OAuthErrorCode::Other(_)), "{text}");
            assert_eq!(code.to_string(), text);
            assert_eq!(&OAuthErrorCode::from(text.to_owned()), code);
        }
        assert_eq!(NAMED.len(), 13);
    }

    #[test]
    fn each_rfc_code_has_its_variant() {
        use OAuthErrorCode::*;
        for (text, code) in [
            ("invalid_request", InvalidRequest),
            ("invalid_client", InvalidClient),
            ("invalid_grant", InvalidGrant),
            ("unauthorized_client", UnauthorizedClient),
            ("unsupported_grant_type", UnsupportedGrantType),
            ("invalid_scope", InvalidScope),
            ("access_denied", AccessDenied),
            ("unsupported_response_type", UnsupportedResponseType),
            ("server_error", ServerError),
            ("temporarily_unavailable", TemporarilyUnavailable),
            ("unsupported_token_type", UnsupportedTokenType),
            ("invalid_token", InvalidToken),
            ("insufficient_scope", InsufficientScope),
        ] {
            assert!(matches!(
                (OAuthErrorCode::from(text), &code),
                (a, b) if std::mem::discriminant(&a) == std::mem::discriminant(b)
            ));
        }
    }

    #[test]
    fn unknown_codes_are_kept_as_sent() {
        let code = OAuthErrorCode::from("unsupported_response_mode");
        assert_eq!(
            code,
            OAuthErrorCode::Other("unsupported_response_mode".into())
        );
        assert_eq!(code.to_string(), "unsupported_response_mode");
        // Case matters: codes are case-sensitive (RFC 6749 §5.2 lists them in lower case).
        assert!(matches!(
            OAuthErrorCode::from("Invalid_Grant"),
            OAuthErrorCode::Other(_)
        ));
        // An `Other` spelling a named code is that code.
        assert_eq!(
            OAuthErrorCode::Other("access_denied".into()),
            OAuthErrorCode::AccessDenied
        );
    }

    #[test]
    fn only_code_shaped_text_is_recognized() {
        assert_eq!(
            OAuthErrorCode::recognize("invalid_grant"),
            Some(OAuthErrorCode::InvalidGrant)
        );
        assert_eq!(
            OAuthErrorCode::recognize("invalid_dpop_proof"),
            Some(OAuthErrorCode::Other("invalid_dpop_proof".into()))
        );
        for text in ["", "Record not found", "Unauthorized", "invalid grant", "é"] {
            assert_eq!(OAuthErrorCode::recognize(text), None, "{text:?}");
        }
    }

    #[test]
    fn serde_is_the_string() {
        let code: OAuthErrorCode = serde_json::from_str(r#""invalid_scope""#).unwrap();
        assert_eq!(code, OAuthErrorCode::InvalidScope);
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""invalid_scope""#);
        let other: OAuthErrorCode = serde_json::from_str(r#""slow_down""#).unwrap();
        assert_eq!(serde_json::to_string(&other).unwrap(), r#""slow_down""#);
    }
}
