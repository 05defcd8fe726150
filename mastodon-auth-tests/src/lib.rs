#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

// One module per product; every public item is re-exported here, at the crate root.

// The hyper plumbing the local instance and the replay server share (and their `Reply`).
mod server;

// `LocalInstance` and its parts: the OAuth server, the API, profiles, faults, the request log.
mod instance;
// `ReplayServer`: recorded traffic played back.
mod replay;
// `RedisServer`, `PostgresServer`: throw-away real servers.
mod services;
pub mod store_contract;
// `TestServer`, `Relay`, `ConnectProxy`: what a real instance never does.
mod test_server;
// `TestCa`: certificates for any test server.
mod tls;
// `Worker`: the test binary started again as another process.
mod worker;

pub use instance::{
    Approval, AuthorizeError, Fault, LocalInstance, LocalInstanceBuilder, Profile, REDACTED,
    RecordedRequest, StartError, TestUser, visit_loopback,
};
pub use replay::{
    Cassette, CassetteError, Interaction, RECORDED_ORIGIN, RecordedCall, RecordedResponse,
    ReplayServer, ReplayedRequest,
};
pub use services::{PostgresServer, REQUIRE_SERVICES, RedisServer, ServiceError};
pub use test_server::{
    Behaviour, ConnectProxy, Handler, ProxyBehaviour, ProxyProtocol, ProxyRequest, Relay,
    TestServer,
};
pub use tls::{Alpn, CertificateError, Leaf, TestCa};
pub use worker::Worker;
