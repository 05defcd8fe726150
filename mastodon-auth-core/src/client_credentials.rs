//! An app's OAuth client credentials (RFC 6749 §2.3.1): its id, which is public, and its
//! secret, which is not. They travel together: an id without its secret can neither log in,
//! refresh nor revoke, so wherever the pair is optional it is one `Option`.

use std::fmt;

use crate::secret::ClientSecret;

/// An OAuth client id (RFC 6749 §2.2), as `POST /api/v1/apps` issues it. Not a secret: it is
/// sent in the authorization URL the person's browser opens.
///
/// ```
/// use mastodon_auth_core::ClientId;
/// let id = ClientId::new("CLIENT_ID");
/// assert_eq!(id.as_str(), "CLIENT_ID");
/// assert_eq!(id.to_string(), "CLIENT_ID");
/// assert_eq!(serde_json::to_string(&id)?, "\"CLIENT_ID\"");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Wraps a client id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id itself.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({:?})", self.0)
    }
}

impl From<String> for ClientId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for ClientId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> Self {
        id.0
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ClientId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClientId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// An app's client id and secret, always together. `Debug` shows the id, never the secret.
/// Serde writes the OAuth parameter names, `client_id` and `client_secret`, so the pair reads
/// and writes the fields credential files have always had.
///
/// ```
/// use mastodon_auth_core::ClientCredentials;
/// let client = ClientCredentials::new("CID", "s3cr3t");
/// assert_eq!(client.id, "CID");
/// assert_eq!(client.secret.expose(), "s3cr3t");
/// let debug = format!("{client:?}");
/// assert!(debug.contains("CID") && !debug.contains("s3cr3t"), "{debug}");
/// assert_eq!(
///     serde_json::to_string(&client)?,
///     r#"{"client_id":"CID","client_secret":"s3cr3t"}"#
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientCredentials {
    /// The client id.
    #[serde(rename = "client_id")]
    pub id: ClientId,
    /// The client secret.
    #[serde(rename = "client_secret")]
    pub secret: ClientSecret,
}

impl ClientCredentials {
    /// The pair.
    #[must_use]
    pub fn new(id: impl Into<ClientId>, secret: impl Into<ClientSecret>) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
        }
    }

    /// The pair from halves stored apart (two columns, two lines of a file): `Ok(None)` when
    /// both are absent, an error naming the missing half when only one is there.
    ///
    /// ```
    /// use mastodon_auth_core::{ClientCredentials, ClientSecret, IncompleteClientCredentials};
    /// assert_eq!(ClientCredentials::from_halves(None, None), Ok(None));
    /// assert_eq!(
    ///     ClientCredentials::from_halves(Some("CID".into()), None),
    ///     Err(IncompleteClientCredentials::NoSecret)
    /// );
    /// assert!(ClientCredentials::from_halves(Some("CID".into()), Some(ClientSecret::new("S")))?.is_some());
    /// # Ok::<(), IncompleteClientCredentials>(())
    /// ```
    ///
    /// # Errors
    /// [`IncompleteClientCredentials`] when exactly one half is present.
    pub fn from_halves(
        id: Option<ClientId>,
        secret: Option<ClientSecret>,
    ) -> Result<Option<Self>, IncompleteClientCredentials> {
        match (id, secret) {
            (Some(id), Some(secret)) => Ok(Some(Self { id, secret })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(IncompleteClientCredentials::NoSecret),
            (None, Some(_)) => Err(IncompleteClientCredentials::NoId),
        }
    }
}

/// Half of a client's credentials without the other, found where the two are stored apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IncompleteClientCredentials {
    /// A client id without its secret.
    #[error("a client id without its client secret")]
    NoSecret,
    /// A client secret without its id.
    #[error("a client secret without its client id")]
    NoId,
}

impl IncompleteClientCredentials {
    /// The OAuth name of the half that is missing: `client_secret` or `client_id`.
    #[must_use]
    pub fn missing_field(self) -> &'static str {
        match self {
            Self::NoSecret => "client_secret",
            Self::NoId => "client_id",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_id_and_hides_the_secret() {
        let debug = format!("{:?}", ClientCredentials::new("the-id", "leak-me"));
        assert_eq!(
            debug,
            "ClientCredentials { id: ClientId(\"the-id\"), secret: ClientSecret([redacted]) }"
        );
    }

    #[test]
    fn serde_round_trip_uses_the_oauth_names() {
        let client = ClientCredentials::new("i", "s");
        let json = serde_json::to_string(&client).unwrap();
        assert_eq!(json, r#"{"client_id":"i","client_secret":"s"}"#);
        let back: ClientCredentials = serde_json::from_str(&json).unwrap();
        assert_eq!(back, client);
        let err = serde_json::from_str::<ClientCredentials>(r#"{"client_id":"i"}"#).unwrap_err();
        assert!(
            err.to_string().contains("missing field `client_secret`"),
            "{err}"
        );
    }

    #[test]
    fn halves_make_a_pair_or_name_what_is_missing() {
        let id = || Some(ClientId::new("i"));
        let secret = || Some(ClientSecret::new("s"));
        assert_eq!(
            ClientCredentials::from_halves(id(), secret()),
            Ok(Some(ClientCredentials::new("i", "s")))
        );
        assert_eq!(ClientCredentials::from_halves(None, None), Ok(None));
        let no_secret = ClientCredentials::from_halves(id(), None).unwrap_err();
        assert_eq!(no_secret.missing_field(), "client_secret");
        let no_id = ClientCredentials::from_halves(None, secret()).unwrap_err();
        assert_eq!(no_id.missing_field(), "client_id");
        assert_eq!(no_id.to_string(), "a client secret without its client id");
    }
}
