//! Verifying credentials, user info, and the instance's version.

use http::Method;

use super::request::Call;
use super::template::ApiPath;
use super::{Mastodon, VersionCheckMode, VersionSource, VersionState};
use crate::account_key::AccountKey;
use crate::entities::{Account, Application, OAuthUserInfo};
use crate::error::{Error, VersionError};
use crate::version::MastodonVersion;

static APP_CREDENTIALS: ApiPath = ApiPath::new("/api/v1/apps/verify_credentials");
static ACCOUNT_CREDENTIALS: ApiPath = ApiPath::new("/api/v1/accounts/verify_credentials");
static INSTANCE_V1: ApiPath = ApiPath::new("/api/v1/instance/");
static INSTANCE_V2: ApiPath = ApiPath::new("/api/v2/instance/");

/// The version assumed when the server would not tell (Mastodon.py's fallback).
const FALLBACK_VERSION: (u64, u64, u64) = (1, 0, 0);

fn fallback_version() -> MastodonVersion {
    MastodonVersion::new(FALLBACK_VERSION.0, FALLBACK_VERSION.1, FALLBACK_VERSION.2)
}

impl Mastodon {
    /// The app the token belongs to (`GET /api/v1/apps/verify_credentials`).
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    /// # "/api/v1/apps/verify_credentials" => (200, &br#"{"id":"1","name":"My App","website":null,"scopes":["read"],"redirect_uris":["urn:ietf:wg:oauth:2.0:oob"]}"#[..]),
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example").client("CID", "CSEC").access_token("TOKEN").transport(transport).build().await?;
    /// let app = client.app_verify_credentials().await?;
    /// assert_eq!(app.name, "My App");
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`] (401 for a bad or revoked token), [`Error::Version`] when the version
    /// check refuses, network and parse errors.
    pub async fn app_verify_credentials(&self) -> Result<Application, Error> {
        self.check_endpoint_version((2, 0, 0), (4, 3, 0))?;
        self.call(Call::api(Method::GET, &APP_CREDENTIALS))
            .await?
            .json()
    }

    /// The logged-in account (`GET /api/v1/accounts/verify_credentials`). Remembers it as the
    /// client's [`account`](Self::account).
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    /// # "/api/v1/accounts/verify_credentials" => (200, &br#"{"id":"1","username":"alice","acct":"alice","display_name":"Alice"}"#[..]),
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example").client("CID", "CSEC").access_token("TOKEN").transport(transport).build().await?;
    /// let me = client.account_verify_credentials().await?;
    /// assert_eq!(me.acct, "alice");
    /// assert_eq!(client.account().unwrap().to_string(), "alice@social.example");
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`] (401 for a bad or revoked token, 422 for an app-only token), network and
    /// parse errors.
    pub async fn account_verify_credentials(&self) -> Result<Account, Error> {
        let reply = self
            .call(Call::api(Method::GET, &ACCOUNT_CREDENTIALS))
            .await?;
        let mut account = reply.json::<Account>()?;
        account.raw = reply.body.clone();
        let known = self
            .state()
            .account
            .as_ref()
            .is_some_and(|k| k.username() == account.username);
        if !known {
            let key = AccountKey::new(&account.username, self.base_url())
                .map_err(|_| reply.malformed("the account's `username` is not a user name"))?;
            self.state().account = Some(key);
        }
        Ok(account)
    }

    /// OpenID-style information about the logged-in user (`/oauth/userinfo`, Mastodon ≥ 4.4;
    /// needs the `profile` scope).
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    /// # "/oauth/userinfo" => (200, &br#"{"iss":"https://social.example/","sub":"https://social.example/users/alice","preferred_username":"alice"}"#[..]),
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example").client("CID", "CSEC").access_token("TOKEN").transport(transport).build().await?;
    /// let info = client.oauth_userinfo().await?;
    /// assert_eq!(info.sub, "https://social.example/users/alice");
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`] (404 on servers without it, 403 without `profile`), [`Error::Version`],
    /// network and parse errors.
    pub async fn oauth_userinfo(&self) -> Result<OAuthUserInfo, Error> {
        self.check_endpoint_version((4, 3, 0), (4, 4, 0))?;
        let info = self.oauth_authorization_server_info().await?;
        let named = info
            .as_ref()
            .and_then(|i| i.userinfo_endpoint.as_ref())
            .map(|u| u.trim_end_matches('/').to_owned());
        let endpoint = self.oauth_endpoint(named.as_ref(), "/oauth/userinfo")?;
        self.call(Call::new(Method::GET, endpoint).unpaced())
            .await?
            .json()
    }

    /// Asks the instance for its version (`/api/v1/instance/`, then `/api/v2/instance/` for
    /// `api_versions.mastodon`). When the server will not tell, the version is taken as 1.0.0,
    /// as Mastodon.py does, and the next call asks again; there is never a retry loop.
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    /// # "/api/v1/instance/" => (200, &br#"{"version":"4.7.3"}"#[..]),
    /// # "/api/v2/instance/" => (200, &br#"{"version":"4.7.3","api_versions":{"mastodon":11}}"#[..]),
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example").transport(transport).build().await?;
    /// let version = client.retrieve_mastodon_version().await?;
    /// assert_eq!(version.to_string(), "4.7.3");
    /// assert_eq!(client.api_version(), Some(11));
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// None today: failures fall back to 1.0.0. The `Result` leaves room for a strict mode.
    pub async fn retrieve_mastodon_version(&self) -> Result<MastodonVersion, Error> {
        let v1 = self.call(Call::api(Method::GET, &INSTANCE_V1)).await;
        let parsed = match v1.and_then(|reply| {
            let doc: serde_json::Value = reply.json()?;
            let raw = doc
                .get("version")
                .and_then(|v| v.as_str())
                .ok_or_else(|| reply.malformed("no `version`"))?;
            Ok(MastodonVersion::parse(raw)?)
        }) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(target: "mastodon_auth", error = %e, "could not learn the instance version; assuming 1.0.0");
                None
            }
        };
        let api_version = match self.call(Call::api(Method::GET, &INSTANCE_V2)).await {
            Ok(reply) => serde_json::from_slice::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|doc| {
                    doc.pointer("/api_versions/mastodon")
                        .and_then(serde_json::Value::as_u64)
                }),
            Err(_) => None,
        };
        let source = if parsed.is_some() {
            VersionSource::Confirmed
        } else {
            VersionSource::Fallback
        };
        let version = parsed.unwrap_or_else(fallback_version);
        if source == VersionSource::Confirmed && api_version.is_none() && version.at_least(4, 3, 0)
        {
            tracing::warn!(target: "mastodon_auth", %version, "version is at least 4.3.0 but the server reports no API version");
        }
        self.state().version = VersionState {
            version: Some(version.clone()),
            api_version,
            source,
        };
        Ok(version)
    }

    /// `true` when the instance is at least `version` (Mastodon.py's `verify_minimum_version`).
    /// Asks the server unless it has already told its version (given at build time or
    /// retrieved); after a failed attempt (the 1.0.0 fallback) it asks again.
    ///
    /// ```
    /// # use mastodon_auth_core::{Mastodon};
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// # let transport = |req: http::Request<bytes::Bytes>| async move {
    /// #     let (status, body): (u16, &'static [u8]) = match req.uri().path() {
    /// # "/api/v1/instance/" => (200, &br#"{"version":"4.7.3"}"#[..]),
    /// # "/api/v2/instance/" => (200, &br#"{"version":"4.7.3","api_versions":{"mastodon":11}}"#[..]),
    /// #         _ => (404, &b"{}"[..]),
    /// #     };
    /// #     Ok::<_, mastodon_auth_core::TransportError>(http::Response::builder().status(status).body(bytes::Bytes::from_static(body)).unwrap())
    /// # };
    /// let client = Mastodon::builder("social.example").transport(transport).build().await?;
    /// assert!(client.verify_minimum_version("4.3.0").await?); // asks the server
    /// assert!(!client.verify_minimum_version("5.0.0").await?); // known now: no request
    /// # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Version`] when `version` itself cannot be parsed.
    pub async fn verify_minimum_version(&self, version: &str) -> Result<bool, Error> {
        self.verify_version(version, VersionSource::Confirmed).await
    }

    /// Like [`verify_minimum_version`](Self::verify_minimum_version), but any earlier answer
    /// counts, even the 1.0.0 fallback of a server that would not tell (Mastodon.py's
    /// `cached=True`); asks only when nothing was asked yet.
    ///
    /// # Errors
    /// [`Error::Version`] when `version` itself cannot be parsed.
    pub async fn verify_minimum_version_cached(&self, version: &str) -> Result<bool, Error> {
        self.verify_version(version, VersionSource::Fallback).await
    }

    /// Compares with the known version when it is at least as good as `enough`, else asks.
    async fn verify_version(&self, version: &str, enough: VersionSource) -> Result<bool, Error> {
        let required = MastodonVersion::parse(version)?;
        let known = {
            let state = self.state();
            match (&state.version.version, state.version.source, enough) {
                (Some(v), VersionSource::Confirmed, _)
                | (Some(v), VersionSource::Fallback, VersionSource::Fallback) => Some(v.clone()),
                _ => None,
            }
        };
        let current = match known {
            Some(v) => v,
            None => self.retrieve_mastodon_version().await?,
        };
        Ok(current >= required)
    }

    /// The instance version known to the client (given at build time or retrieved), if any.
    #[must_use]
    pub fn mastodon_version(&self) -> Option<MastodonVersion> {
        self.state().version.version.clone()
    }

    /// `true` when the known version came from the server or the caller, `false` when it is
    /// the 1.0.0 fallback (or nothing was asked yet).
    #[must_use]
    pub fn version_is_known(&self) -> bool {
        self.state().version.source == VersionSource::Confirmed
    }

    /// The instance's `api_versions.mastodon`, when retrieved.
    #[must_use]
    pub fn api_version(&self) -> Option<u64> {
        self.state().version.api_version
    }

    /// Mastodon.py's per-endpoint version check; never makes a request.
    fn check_endpoint_version(
        &self,
        created: (u64, u64, u64),
        changed: (u64, u64, u64),
    ) -> Result<(), Error> {
        let need = match self.inner.config.version_check_mode {
            VersionCheckMode::None => return Ok(()),
            VersionCheckMode::Created => created,
            VersionCheckMode::Changed => changed.max(created),
        };
        let known = self
            .state()
            .version
            .version
            .as_ref()
            .map_or(FALLBACK_VERSION, |v| (v.major, v.minor, v.patch));
        if known >= need {
            return Ok(());
        }
        Err(VersionError::TooOld {
            required: need,
            known,
        }
        .into())
    }
}
