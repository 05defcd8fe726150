//! # mastodon-auth-proof
//!
//! The proof that `mastodon-auth`'s extension points suffice: a transport and a credential
//! store written the way anyone outside the project would write them, against the public API
//! of `mastodon-auth` with `default-features = false` (core alone) and nothing private.
//!
//! - [`ReqwestTransport`]: [`HttpTransport`](mastodon_auth::HttpTransport) over reqwest,
//!   with every reqwest failure mapped to a typed
//!   [`TransportError`](mastodon_auth::TransportError) (connect, DNS, TLS and why, timeout
//!   and in which phase, a body over the cap, a broken connection, an answer that is not
//!   HTTP); never `TransportError::Other`.
//! - [`SqliteStore`]: [`CredentialStore`](mastodon_auth::CredentialStore) and
//!   [`AccountDirectory`](mastodon_auth::AccountDirectory) over SQLite (rusqlite), with the
//!   database's failures as [`StoreError::Backend`](mastodon_auth::StoreError::Backend).
//!
//! The crate's tests run the whole OAuth flow through both against the test kit's local
//! instance over HTTPS, the typed failures one by one, and the store contract suite
//! (`mastodon_auth_tests::store_contract`). The crate is not published: it exists to keep the
//! extension points honest.

#![forbid(unsafe_code)]

mod store;
mod transport;

pub use store::{BACKEND, SCHEMA_VERSION, SqliteStore, UnknownSchema};
pub use transport::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, ReqwestTransport,
    ReqwestTransportBuilder,
};
