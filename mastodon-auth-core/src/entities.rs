//! What the server answers, typed as far as the auth layer needs; everything else is kept in
//! `extra`.

mod account_scan;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::client_credentials::{ClientCredentials, ClientId};
use crate::secret::{AccessToken, ClientSecret, RefreshToken};

/// A freshly registered application (`POST /api/v1/apps`): the only answer that carries the
/// client secret.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct RegisteredApp {
    /// The OAuth client id.
    pub client_id: ClientId,
    /// The OAuth client secret.
    pub client_secret: ClientSecret,
    /// The application's id on the server.
    #[serde(default, deserialize_with = "id_string")]
    pub id: Option<String>,
    /// The name it was registered with.
    #[serde(default)]
    pub name: Option<String>,
    /// Its website, if any.
    #[serde(default)]
    pub website: Option<String>,
    /// The scopes it was registered with (Mastodon ≥ 4.3).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Its redirect URIs (Mastodon ≥ 4.3).
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// The push key, if the server has one.
    #[serde(default)]
    pub vapid_key: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RegisteredApp {
    /// The client id and secret, together.
    #[must_use]
    pub fn client_credentials(&self) -> ClientCredentials {
        ClientCredentials {
            id: self.client_id.clone(),
            secret: self.client_secret.clone(),
        }
    }
}

/// An application as `GET /api/v1/apps/verify_credentials` describes it (no secrets).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Application {
    /// The application's name.
    pub name: String,
    /// Its id (Mastodon ≥ 4.3).
    #[serde(default, deserialize_with = "id_string")]
    pub id: Option<String>,
    /// Its website.
    #[serde(default)]
    pub website: Option<String>,
    /// Its scopes (Mastodon ≥ 4.3).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Its redirect URIs (Mastodon ≥ 4.3).
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// The push key.
    #[serde(default)]
    pub vapid_key: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The logged-in account (`GET /api/v1/accounts/verify_credentials`).
///
/// Only the fields the auth layer needs are typed. The rest of the document (`source`, `role`,
/// counts, …) is kept as the server sent it and parsed only when asked for with
/// [`json`](Self::json): this answer comes on every verification, and parsing its forty-odd
/// fields into a map each time was most of the client's cost per request.
#[derive(Clone, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Account {
    /// The account id.
    #[serde(deserialize_with = "required_id_string")]
    pub id: String,
    /// The user name, without the instance.
    pub username: String,
    /// `username` for local accounts.
    pub acct: String,
    /// The display name (may be empty).
    #[serde(default)]
    pub display_name: String,
    /// The profile URL.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(skip)]
    pub(crate) raw: bytes::Bytes,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("acct", &self.acct)
            .field("display_name", &self.display_name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The account in a server's answer when it has the plain shape Mastodon sends, read in
    /// one pass; `None` leaves the document to serde_json (see `entities/account_scan.rs`).
    pub(crate) fn scan(text: &str) -> Option<Self> {
        account_scan::account(text)
    }

    /// The whole document as the server sent it.
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon, TransportError};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let t = |_r: http::Request<bytes::Bytes>| async { Ok::<_, TransportError>(http::Response::new(
    /// #     bytes::Bytes::from_static(br#"{"id":"1","username":"alice","acct":"alice","followers_count":3}"#))) };
    /// # let client = Mastodon::builder("social.example").access_token("T").transport(t).build().await?;
    /// let account = client.account_verify_credentials().await?;
    /// assert_eq!(account.json()["followers_count"], 3);
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    #[must_use]
    pub fn json(&self) -> Map<String, Value> {
        // It parsed as an object when the account was made, so this cannot fail in practice.
        serde_json::from_slice(&self.raw).unwrap_or_default()
    }
}

/// OpenID-style user info (`/oauth/userinfo`, Mastodon ≥ 4.4).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct OAuthUserInfo {
    /// The issuer (`root_url`).
    #[serde(default)]
    pub iss: Option<String>,
    /// The subject: the account's ActivityPub URI.
    pub sub: String,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The user name.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// The profile URL.
    #[serde(default)]
    pub profile: Option<String>,
    /// The avatar URL.
    #[serde(default)]
    pub picture: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: AccessToken,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default)]
    pub expires_in: Option<Value>,
}

/// Ids are strings on Mastodon and numbers on some other servers.
fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn required_id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    id_string(d)?.ok_or_else(|| serde::de::Error::custom("`id` must be a string or a number"))
}
