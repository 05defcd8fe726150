//! What can go wrong, as one line for stderr and an exit code.

use mastodon_auth::Error;

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// One line for stderr; never a secret.
    pub message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self {
            code: exit_code(&e),
            message: e.to_string(),
        }
    }
}

impl From<mastodon_auth::StoreError> for Failure {
    fn from(e: mastodon_auth::StoreError) -> Self {
        Self::other(e.to_string())
    }
}

/// The exit code for a library error.
#[must_use]
pub fn exit_code(e: &Error) -> u8 {
    if e.is_authentication() {
        3
    } else if e.is_network() {
        4
    } else if e.is_rate_limit() {
        5
    } else if e.is_invalid_input() {
        2
    } else {
        1
    }
}
