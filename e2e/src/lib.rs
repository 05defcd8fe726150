//! The end-to-end suites of the mastodon-auth workspace (not published; this library is empty).
//!
//! Each crate's own tests live in that crate (`cargo test -p mastodon-auth-store --all-features`
//! runs all of the store's, `PostgresStore`'s included), and the test kit's own in
//! `mastodon-auth-tests`. What is left here crosses crates, so it belongs to none of them:
//!
//! - `tests/end_to_end.rs`: the real client stack (`Mastodon` + `HyperTransport` over HTTPS +
//!   `Pacer` + stores) against `LocalInstance`, for every server profile and every fault;
//! - `tests/conformance.rs`: the client against a `ReplayServer` playing the cassettes recorded
//!   by Mastodon.py's test suite, sending the same requests and reading the same answers;
//! - `tests/fleet_refresh.rs`: eight worker processes sharing one expiring account through each
//!   store, with exactly one refresh reaching the server (PostgreSQL tests skip themselves where
//!   PostgreSQL is not installed, unless `MASTODON_AUTH_REQUIRE_SERVICES=1`).
//!
//! Run them with `cargo test -p mastodon-auth-e2e`.
#![forbid(unsafe_code)]
