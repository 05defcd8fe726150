#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

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
mod sign_in;
mod state;
pub mod store_contract;
mod test_server;
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
pub use test_server::{Behaviour, Handler, Relay, TestServer};
pub use tls::{Alpn, CertificateError, Leaf, TestCa};
pub use visit::visit_loopback;
