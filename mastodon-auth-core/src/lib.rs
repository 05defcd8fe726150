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
//!   a multi-account file);
//! - [`RateLimiter`] paces requests (`mastodon-auth-ratelimit`'s `Pacer`: wait / throw / pace).
//!

#![warn(missing_docs)]

mod error;
mod instance_url;
#[cfg(feature = "mock")]
pub mod mock;
mod random;
mod ratelimit;
mod scope;
mod secret;
mod store;
mod transport;
mod version;

pub use error::{
    ApiError, ApiErrorKind, Error, HeaderError, MalformedResponse, RateLimitError, StoreError,
};
pub use instance_url::InstanceUrl;
pub use ratelimit::{
    NoRateLimit, RateLimitInfo, RateLimitKey, RateLimiter, RatelimitMethod, Verdict,
};
pub use scope::{DEFAULT_SCOPES, KNOWN_SCOPES, SCOPE_SETS, Scope, Scopes};
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, Password, PkceVerifier, RefreshToken,
};
pub use store::{AccountKey, AppCredentials, CredentialStore, UserCredentials};
pub use transport::{HttpTransport, RequestTimeout, TimeoutPhase, TlsFailure, TransportError};
pub use version::{MastodonVersion, ServerSoftware};
