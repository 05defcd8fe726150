//! # mastodon-auth-core
//!
//! The authentication and setup layer of a Mastodon API client: app registration, OAuth
//! (authorization code with PKCE and state, password for old servers, refresh tokens for
//! Pleroma-family servers, client credentials), credential persistence, token revocation,
//! instance version detection and rate-limit handling. It is the Rust counterpart of
//! Mastodon.py's "Authentication & Setup".
//!
//! Core holds the types, the flows and three pluggable traits; it performs no I/O of its own:
//!
//! - [`HttpTransport`] sends requests (`mastodon-auth-http` has the hyper + rustls one; any
//!   async closure works too);
//! - [`CredentialStore`] keeps credentials (`mastodon-auth-store`: memory, Mastodon.py files,
//!   a multi-account file), leasing an account ([`UserLease`]) while its token is refreshed,
//!   and [`AccountDirectory`] lists and switches the accounts of a store that keeps several;
//! - [`RateLimiter`] paces requests (`mastodon-auth-ratelimit`'s `Pacer`: wait / throw / pace).
//!
//! ```
//! use mastodon_auth_core::{Mastodon, Scopes, TransportError};
//! # use bytes::Bytes;
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! // Any `Fn(http::Request<Bytes>) -> Future<Output = Result<http::Response<Bytes>, _>>` is a
//! // transport; real code uses `mastodon_auth_http::HyperTransport`.
//! let transport = |_req: http::Request<Bytes>| async {
//!     Ok::<_, TransportError>(http::Response::builder().status(404).body(Bytes::new()).unwrap())
//! };
//! let client = Mastodon::builder("https://social.example")
//!     .client("CLIENT_ID", "CLIENT_SECRET")
//!     .transport(transport)
//!     .build()
//!     .await?;
//! let request = client.auth_request_url().scopes(Scopes::default()).build().await?;
//! assert!(request.url.starts_with("https://social.example/oauth/authorize?client_id=CLIENT_ID&response_type=code"));
//! # let _ = request.pending;
//! # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
//! ```

#![forbid(unsafe_code)]

/// The `User-Agent` the client (and the transport, for requests without one) sends:
/// `mastodon-auth/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("mastodon-auth/", env!("CARGO_PKG_VERSION"));

mod account_key;
mod client;
mod client_credentials;
mod entities;
mod error;
mod form;
mod instance_url;
mod metadata;
#[cfg(feature = "mock")]
pub mod mock;
mod oauth_code;
mod random;
mod ratelimit;
pub mod redact;
mod redirect_uri;
mod scope;
mod secret;
mod state;
mod store;
mod text;
mod transport;
mod version;

pub use account_key::{AccountKey, AccountKeyError, AccountKeyProblem};
pub use client::{
    AuthRequestBuilder, AuthorizationRequest, AuthorizedCode, CreateApp, FeatureSet, LoginGrant,
    Mastodon, MastodonBuilder, NoTransport, PendingAuthorization, PendingAuthorizationParts, Pkce,
    VersionCheckMode, WithTransport,
};
pub use client_credentials::{ClientCredentials, ClientId, IncompleteClientCredentials};
pub use entities::{Account, Application, OAuthUserInfo, RegisteredApp};
pub use error::{
    ApiError, ApiErrorKind, ConfigError, Error, HeaderError, MalformedResponse, ParseOptionError,
    RateLimitError, RateLimitReset, StoreError, StoreOperation, VersionError,
};
pub use instance_url::{InstanceUrl, InstanceUrlError, UrlProblem, is_loopback_host};
pub use metadata::OAuthServerInfo;
pub use oauth_code::OAuthErrorCode;
pub use ratelimit::{NoRateLimit, RateLimitInfo, RateLimitKey, RateLimiter, Verdict};
pub use redact::SECRET_PARAMETERS;
pub use redirect_uri::{RedirectUri, RedirectUriError, RedirectUriProblem};
pub use scope::{DEFAULT_SCOPES, KNOWN_SCOPES, SCOPE_SETS, Scope, ScopeError, Scopes};
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, Password, PkceVerifier, RefreshToken,
};
pub use state::State;
pub use store::{AccountDirectory, AppCredentials, CredentialStore, UserCredentials, UserLease};
pub use text::is_bidi_control;
pub use transport::{
    AllowHttp, HttpTransport, RequestTimeout, TimeoutPhase, TlsFailure, TransportError,
};
pub use version::{MastodonVersion, ServerSoftware, VersionParseError};

// What implementing a trait of this crate takes (the trait attribute, the request and response
// types, the body type), re-exported so an implementation needs no dependency of its own and
// always gets the versions this crate was built with.
pub use async_trait::async_trait;
pub use bytes;
pub use http;
