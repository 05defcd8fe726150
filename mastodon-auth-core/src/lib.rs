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
//!   a multi-account file), and [`AccountDirectory`] lists and switches the accounts of a
//!   store that keeps several;
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
//! let (url, pending) = client.auth_request_url().scopes(Scopes::default()).build().await?;
//! assert!(url.starts_with("https://social.example/oauth/authorize?client_id=CLIENT_ID&response_type=code"));
//! # let _ = pending;
//! # Ok::<(), mastodon_auth_core::Error>(()) }).unwrap();
//! ```

#![forbid(unsafe_code)]

/// The `User-Agent` the client (and the transport, for requests without one) sends:
/// `mastodon-auth/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("mastodon-auth/", env!("CARGO_PKG_VERSION"));

mod client;
mod entities;
mod error;
mod form;
mod instance_url;
mod metadata;
#[cfg(feature = "mock")]
pub mod mock;
mod random;
mod ratelimit;
pub mod redact;
mod scope;
mod secret;
mod store;
mod text;
mod transport;
mod version;

pub use client::{
    AuthRequestBuilder, AuthorizedCode, CreateApp, FeatureSet, LoginGrant, Mastodon,
    MastodonBuilder, NoTransport, OOB_REDIRECT_URI, PendingAuthorization, VersionCheckMode,
    WithTransport,
};
pub use entities::{Account, Application, OAuthUserInfo, RegisteredApp};
pub use error::{
    AccountKeyProblem, ApiError, ApiErrorKind, Error, HeaderError, MalformedResponse,
    RateLimitError, StoreError, UrlProblem, VersionError,
};
pub use instance_url::{InstanceUrl, is_loopback_host};
pub use metadata::OAuthServerInfo;
pub use ratelimit::{NoRateLimit, RateLimitInfo, RateLimitKey, RateLimiter, Verdict};
pub use redact::SECRET_PARAMETERS;
pub use scope::{DEFAULT_SCOPES, KNOWN_SCOPES, SCOPE_SETS, Scope, Scopes};
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, Password, PkceVerifier, RefreshToken,
};
pub use store::{
    AccountDirectory, AccountKey, AppCredentials, CredentialStore, UserCredentials, UserUpdate,
    UserUpdateFuture,
};
pub use text::is_bidi_control;
pub use transport::{
    AllowHttp, HttpTransport, RequestTimeout, TimeoutPhase, TlsFailure, TransportError,
};
pub use version::{MastodonVersion, ServerSoftware};

// What implementing a trait of this crate takes (the trait attribute, the request and response
// types, the body type), re-exported so an implementation needs no dependency of its own and
// always gets the versions this crate was built with.
pub use async_trait::async_trait;
pub use bytes;
pub use http;
