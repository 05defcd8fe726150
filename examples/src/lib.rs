//! # mastodon-auth-examples
//!
//! The pieces behind the `mastodon-auth` command-line tool and the examples: a one-shot
//! loopback listener for OAuth callbacks ([`loopback`]), opening a browser ([`browser`]),
//! and the CLI itself ([`cli`]).

#![warn(missing_docs)]

pub mod browser;
pub mod cli;
pub mod loopback;
pub mod setup;
