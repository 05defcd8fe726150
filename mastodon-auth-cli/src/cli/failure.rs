//! What can go wrong, as one line for stderr and an exit code from one table.

use std::fmt::Write as _;
use std::process::ExitCode;

use mastodon_auth::{Error, InstanceUrlError, OAuthErrorCode, StoreError};

use super::output;

/// The exit codes, each with what it means: the one table shown by `--help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Success,
    Other,
    Usage,
    Auth,
    Network,
    Server,
}

impl Exit {
    const ALL: [Exit; 6] = [
        Self::Success,
        Self::Other,
        Self::Usage,
        Self::Auth,
        Self::Network,
        Self::Server,
    ];

    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Other => 1,
            Self::Usage => 2,
            Self::Auth => 3,
            Self::Network => 4,
            Self::Server => 5,
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Other => "any other failure (the accounts file, writing the output, …)",
            Self::Usage => {
                "usage: a bad argument, an unknown account, --json where it does not apply"
            }
            Self::Auth => {
                "authentication: not logged in, a rejected token, a refused or timed-out login"
            }
            Self::Network => "network: the instance could not be reached",
            Self::Server => {
                "server error: a 5xx, an answer that is not Mastodon's API, the rate limit"
            }
        }
    }
}

/// The `--help` epilogue: the exit codes and the environment.
pub(crate) fn exit_code_help() -> String {
    let mut help = String::from("Exit codes:\n");
    for exit in Exit::ALL {
        let _ = writeln!(help, "  {}  {}", exit.code(), exit.meaning());
    }
    help.push_str(
        "\nEnvironment:\n  MASTODON_AUTH_CONFIG  the config folder (as --config)\n  \
         MASTODON_AUTH_TOKEN   a token that overrides the stored accounts (CI, containers)\n  \
         MASTODON_AUTH_INSTANCE  its instance (default: the active account's)\n  \
         BROWSER               the browser command(s) for login, `:`-separated\n  \
         RUST_LOG              more logging, as tracing's env filter",
    );
    help
}

/// A failure: the exit code, and one line for stderr (never a secret).
#[derive(Debug)]
pub(crate) struct Failure {
    exit: Exit,
    /// `None` when there is nothing (more) to say.
    message: Option<String>,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: Some(message.into()),
        }
    }

    /// An ending that was already reported (by the panic hook, say).
    pub(crate) fn silent(exit: Exit) -> Self {
        Self {
            exit,
            message: None,
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::new(Exit::Other, message)
    }

    /// The reader of stdout went away (`mastodon-auth token | head -c0`): it wants nothing
    /// more, so the tool ends quietly with 0, as `rg` and `fd` do. 141 (a SIGPIPE death) would
    /// make `set -o pipefail` scripts fail on `mastodon-auth accounts | head -1`.
    pub(crate) fn stdout_closed() -> Self {
        Self::silent(Exit::Success)
    }

    /// The exit code.
    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }

    /// The message, when there is one.
    pub(crate) fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Adds context in front of the message.
    pub(crate) fn context(mut self, context: &str) -> Self {
        self.message = self.message.map(|m| format!("{context}: {m}"));
        self
    }

    /// Says what went wrong on stderr and gives the exit code.
    pub(crate) fn report(self) -> ExitCode {
        if let Some(message) = &self.message {
            output::note(&format!("mastodon-auth: {message}"));
        }
        ExitCode::from(self.exit.code())
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::new(exit_for(&e), e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Error::Store(e).into()
    }
}

impl From<InstanceUrlError> for Failure {
    fn from(e: InstanceUrlError) -> Self {
        Error::InvalidUrl(e).into()
    }
}

/// The one place a library error becomes an exit code.
pub(crate) fn exit_for(e: &Error) -> Exit {
    match e {
        _ if e.is_authentication() => Exit::Auth,
        Error::Api(api) if api.status == 403 => Exit::Auth,
        // A login the server will not do this way (the password grant on Mastodon 4.4+) is an
        // authentication failure: another way of logging in is the fix.
        Error::ScopeMismatch { .. } | Error::UnsupportedGrant { .. } => Exit::Auth,
        Error::Api(api) if api.oauth_code() == Some(OAuthErrorCode::UnsupportedGrantType) => {
            Exit::Auth
        }
        _ if e.is_network() => Exit::Network,
        Error::RateLimit(_)
        | Error::MalformedResponse(_)
        | Error::UnexpectedRedirect { .. }
        | Error::UnsafeOAuthUrl { .. } => Exit::Server,
        Error::Api(api) if api.is_server_error() => Exit::Server,
        Error::Store(StoreError::UnknownAccount(_)) => Exit::Usage,
        _ if e.is_invalid_input() => Exit::Usage,
        _ => Exit::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mastodon_auth::{ApiError, RateLimitError, TransportError};

    #[test]
    fn library_errors_map_to_the_table() {
        let api = |status| Error::Api(ApiError::new(status, "GET /x"));
        assert_eq!(exit_for(&api(401)), Exit::Auth);
        assert_eq!(exit_for(&api(403)), Exit::Auth);
        assert_eq!(exit_for(&api(502)), Exit::Server);
        assert_eq!(exit_for(&api(422)), Exit::Other);
        assert_eq!(
            exit_for(&Error::Network(TransportError::Other("x".into()))),
            Exit::Network
        );
        assert_eq!(
            exit_for(&Error::RateLimit(RateLimitError::NoUsableReset)),
            Exit::Server
        );
        assert_eq!(
            exit_for(&StoreError::UnknownAccount("a@b".parse().unwrap()).into()),
            Exit::Usage
        );
        assert_eq!(exit_for(&Error::StateMismatch), Exit::Auth);
        // Issue 25: the password grant refused by Mastodon 4.4+ exited 1.
        let mut refused = ApiError::new(400, "POST /oauth/token");
        refused.error = Some("unsupported_grant_type".into());
        assert_eq!(exit_for(&Error::Api(refused)), Exit::Auth);
    }

    #[test]
    fn the_help_lists_every_code() {
        let help = exit_code_help();
        for code in 0..=5 {
            assert!(help.contains(&format!("  {code}  ")), "{help}");
        }
    }
}
