//! # mastodon-auth-store
//!
//! Implementations of [`mastodon_auth_core::CredentialStore`]:
//!
//! - [`MemoryStore`]: in memory, for tests and short-lived programs;
//! - [`MastodonPyFiles`]: Mastodon.py's `clientcred.secret` / `usercred.secret` files, read in
//!   every form Mastodon.py has written and written byte for byte as it writes them;
//! - [`AccountsFile`]: several accounts on several instances in one JSON file, with an active
//!   account to switch between;
//! - with the feature `postgres`, `PostgresStore`: PostgreSQL, shared by every process of a
//!   fleet, with an active account per profile and a schema it migrates itself.
//!
//! [`MemoryStore`] and [`AccountsFile`] also implement
//! [`mastodon_auth_core::AccountDirectory`] (list, switch, remove accounts).
//!
//! The file stores write atomically (temporary file, flush, rename, flush the folder), keep
//! files at mode 0600 and created folders at 0700, and take an advisory lock on a sibling
//! `<file>.lock` so that several processes never lose each other's updates; a lock held by
//! another process is waited for with a bound, and an observer can be told of the wait
//! ([`atomic::LockWait`]). A credential file that is a symbolic link stays one: the file it
//! points to is rewritten. A file that cannot be read or parsed is a
//! [`StoreError`](mastodon_auth_core::StoreError) naming it (and the line, for line-based
//! files); it is never overwritten or deleted as a side effect. No error quotes a secret. The
//! building blocks are public in [`atomic`] for custom stores.
//!
//! File work runs on tokio's blocking pool when a tokio runtime is running, and in place
//! otherwise.

#![forbid(unsafe_code)]

mod accounts_file;
pub mod atomic;
pub mod mastodon_py;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;

pub use accounts_file::{AccountsFile, FORMAT_VERSION};
pub use mastodon_py::MastodonPyFiles;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{
    DEFAULT_PROFILE, PostgresConfigError, PostgresError, PostgresStore, PostgresStoreBuilder,
    SCHEMA_VERSION,
};
