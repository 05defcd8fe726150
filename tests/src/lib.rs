//! # mastodon-auth-tests
//!
//! The test kit for Mastodon OAuth clients; add it as a dev-dependency:
//!
//! - [`LocalInstance`]: a Mastodon-compatible server on loopback (HTTPS with a generated CA,
//!   or HTTP) implementing app registration, `/oauth/token` (every grant and error of real
//!   Mastodon), revocation, credential checks, OAuth metadata, instance documents and
//!   rate-limit headers, with [`Profile`]s for older releases and other servers, [`Fault`]
//!   injection, and a request log ([`RecordedRequest`]);
//! - [`ReplayServer`]: serves a recorded [`Cassette`] (vcrpy YAML) in order and records what
//!   the client sent;
//! - [`store_contract::check`]: the contract of `CredentialStore` + `AccountDirectory` as a
//!   suite a store's author runs against their store in one line;
//! - [`RedisServer`] and [`PostgresServer`]: throw-away real servers from the Debian packages,
//!   for tests of shared rate limits and credential stores (skipped with a note where the
//!   packages are missing, unless `MASTODON_AUTH_REQUIRE_SERVICES=1`).
//!
//! Everything listens on `127.0.0.1` only and stops when dropped.
//!
//! In your own test suite, start an instance, trust its test CA, and drive your client through
//! the whole OAuth flow, with the instance playing the person who approves:
//!
//! ```
//! use mastodon_auth_core::{LoginGrant, Mastodon};
//! use mastodon_auth_http::HyperTransport;
//! use mastodon_auth_tests::{Approval, LocalInstance};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let instance = LocalInstance::start().await?;
//! let transport = HyperTransport::builder().add_root_pem(instance.ca_certificate_pem().as_bytes()).build()?;
//! let client = Mastodon::builder(instance.base_url()).transport(transport).build().await?;
//! client.create_app("my test").scopes("read".parse()?).send().await?;
//!
//! let (url, pending) = client.auth_request_url().scopes("read".parse()?).build().await?;
//! let Approval::OutOfBand { code } = instance.approve(&url)? else { unreachable!("out-of-band redirect") };
//! client.log_in(LoginGrant::AuthorizationCode(pending.code(code))).await?;
//! assert_eq!(client.account_verify_credentials().await?.username, instance.user().username);
//! instance.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod api;
mod apps;
mod clock;
mod fault;
mod handler;
mod instance;
mod oauth;
mod params;
mod profile;
mod proxy;
mod random;
mod record;
mod replay;
mod reply;
mod server;
mod services;
mod state;
pub mod store_contract;
mod throttle;
mod tls;
mod uri;
mod visit;

pub use fault::Fault;
pub use instance::{LocalInstance, LocalInstanceBuilder, StartError};
pub use oauth::{Approval, AuthorizeError};
pub use profile::Profile;
pub use proxy::{ConnectProxy, ProxyBehaviour, ProxyProtocol, ProxyRequest};
pub use record::{REDACTED, RecordedRequest};
pub use replay::{
    Cassette, CassetteError, Interaction, RECORDED_ORIGIN, RecordedCall, RecordedResponse,
    ReplayServer, ReplayedRequest,
};
pub use services::{PostgresServer, REQUIRE_SERVICES, RedisServer, ServiceError};
pub use state::TestUser;
pub use tls::{Alpn, CertificateError, Leaf, TestCa};
pub use visit::visit_loopback;
