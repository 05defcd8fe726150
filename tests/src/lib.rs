//! # mastodon-auth-tests
//!
//! Test infrastructure for Mastodon OAuth clients:
//!
//! - [`LocalInstance`]: a Mastodon-compatible server on loopback (HTTPS with a generated CA,
//!   or HTTP) implementing app registration, `/oauth/token` (every grant and error of real
//!   Mastodon), revocation, credential checks, OAuth metadata, instance documents and
//!   rate-limit headers, with [`Profile`]s for older releases and other servers, [`Fault`]
//!   injection, and a request log ([`RecordedRequest`]);
//! - [`ReplayServer`]: serves a recorded [`Cassette`] (vcrpy YAML) in order and records what
//!   the client sent.
//!
//! Everything listens on `127.0.0.1` only and stops when dropped.

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
mod random;
mod record;
mod replay;
mod reply;
mod server;
mod state;
mod throttle;
mod tls;
mod uri;

pub use fault::Fault;
pub use instance::{LocalInstance, LocalInstanceBuilder, StartError};
pub use oauth::{Approval, AuthorizeError};
pub use profile::Profile;
pub use record::{REDACTED, RecordedRequest};
pub use replay::{
    Cassette, CassetteError, Interaction, RECORDED_ORIGIN, RecordedCall, RecordedResponse,
    ReplayServer, ReplayedRequest,
};
pub use state::TestUser;
