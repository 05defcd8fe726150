//! # mastodon-auth
//!
//! Authentication and setup for Mastodon API clients: register an app, send a person through
//! OAuth (authorization code with PKCE and state, the password grant for older servers,
//! refresh tokens for Pleroma-family servers, client credentials), keep the credentials,
//! revoke tokens, detect the instance's version, and respect its rate limits. It does what the
//! "Authentication & Setup" part of [Mastodon.py](https://github.com/halcy/Mastodon.py) does,
//! with Rust types and pluggable backends.
//!
//! This is the one dependency an application adds. It re-exports:
//!
//! | what | from | feature (default on) |
//! |---|---|---|
//! | [`Mastodon`], the flows, errors, [`Scopes`], secrets, the three traits | `mastodon-auth-core` | always |
//! | [`HyperTransport`] (hyper 1 + rustls) as [`transport`] | `mastodon-auth-http` | `transport` |
//! | [`MemoryStore`], [`MastodonPyFiles`], [`AccountsFile`] as [`store`] | `mastodon-auth-store` | `store` |
//! | [`Pacer`] and [`RateLimitMethod`] (wait / throw / pace) as [`ratelimit`] | `mastodon-auth-ratelimit` | `ratelimit` |
//! | the installed-app login: [`loopback`] listener and [`browser`] opener | this crate | `login` |
//! | the crates a trait implementation needs: [`async_trait`](macro@async_trait), [`http`], [`bytes`] | | always |
//!
//! With `default-features = false` you get core alone and add what you need, for example
//! your own transport over reqwest and your own store over a database.
//!
//! ## The whole flow
//!
//! An installed app (a desktop or command-line program) registers itself once per instance,
//! sends the person to the instance in their browser, receives the authorization on a
//! loopback listener (RFC 8252 §7.3), exchanges the code (PKCE-protected) for a token, and
//! keeps the credentials:
//!
//! ```no_run
//! use std::time::Duration;
//! use mastodon_auth::loopback::{CallbackListener, REGISTERED_REDIRECT_URI};
//! use mastodon_auth::{
//!     browser, AccountsFile, HyperTransport, LoginGrant, Mastodon, Pacer, RateLimitMethod,
//!     RedirectUri, Scopes,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = AccountsFile::open("accounts.json");
//! let client = Mastodon::builder("mastodon.social")
//!     .transport(HyperTransport::new()?)
//!     .store(store)
//!     .rate_limiter(Pacer::new(RateLimitMethod::Wait))
//!     .skip_stored_user()
//!     .build()
//!     .await?;
//!
//! // 1. Register once per instance (the store keeps the app).
//! let scopes: Scopes = "read write".parse()?;
//! if client.client_credentials().is_none() {
//!     client
//!         .create_app("My App")
//!         .scopes(scopes.clone())
//!         .redirect_uris([RedirectUri::OOB, REGISTERED_REDIRECT_URI])
//!         .send()
//!         .await?;
//! }
//!
//! // 2. Listen on 127.0.0.1:<any port>, and send the person to the instance. Print the URL
//! //    too: without a display (SSH, a container) no browser opens.
//! let listener = CallbackListener::bind().await?;
//! let request = client
//!     .auth_request_url()
//!     .scopes(scopes)
//!     .redirect_uri(listener.redirect_uri())
//!     .build()
//!     .await?;
//! eprintln!("Open this URL to log in: {}", request.url);
//! if let Err(e) = browser::open(&request.url).await {
//!     eprintln!("Could not open a browser ({e}); open the URL above yourself.");
//! }
//!
//! // 3. The browser comes back with a code. Only a callback with this request's state ends
//! //    the wait (forged ones get a 400); PKCE protects the code itself.
//! let code = listener.wait_for(request.pending, Duration::from_secs(300)).await?;
//! client.log_in(LoginGrant::AuthorizationCode(code)).await?;
//!
//! // 4. Keep the credentials: the next run's client loads them from the store.
//! client.save_credentials().await?;
//! println!("Logged in as {}", client.account_verify_credentials().await?.acct);
//! # Ok(()) }
//! ```
//!
//! The same flow runs in a test against the test kit's local instance
//! (`mastodon-auth-tests`), which plays the server and the person who approves.
//!
//! ## Pieces
//!
//! - Credentials files written by Mastodon.py load here and the other way round
//!   ([`MastodonPyFiles`]); [`AccountsFile`] keeps many accounts in one file with an active one.
//! - Errors are one [`Error`] enum mirroring Mastodon.py's exceptions, which each parser's
//!   small error ([`InstanceUrlError`], [`ScopeError`], …) converts into; OAuth refusals carry
//!   an [`OAuthErrorCode`]; secrets ([`AccessToken`], [`ClientSecret`], …) never print.
//! - Any [`HttpTransport`], [`CredentialStore`] or [`RateLimiter`] can be plugged in; closures
//!   are transports, which suits tests.

#![forbid(unsafe_code)]

// Everything of core, including the crates a trait implementation needs (`async_trait`,
// `http`, `bytes`), which core re-exports so that both name the same versions.
pub use mastodon_auth_core::*;

/// The hyper + rustls transport (`mastodon-auth-http`).
#[cfg(feature = "transport")]
pub use mastodon_auth_http as transport;
#[cfg(feature = "transport")]
pub use mastodon_auth_http::{HyperTransport, HyperTransportBuilder};

/// Credential stores (`mastodon-auth-store`).
#[cfg(feature = "store")]
pub use mastodon_auth_store as store;
#[cfg(feature = "store")]
pub use mastodon_auth_store::{AccountsFile, MastodonPyFiles, MemoryStore};

/// Rate limiting (`mastodon-auth-ratelimit`).
#[cfg(feature = "ratelimit")]
pub use mastodon_auth_ratelimit as ratelimit;
#[cfg(feature = "ratelimit")]
pub use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};

#[cfg(feature = "login")]
pub mod browser;
#[cfg(feature = "login")]
pub mod loopback;

/// The README's Rust examples, compiled with the crate's doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
