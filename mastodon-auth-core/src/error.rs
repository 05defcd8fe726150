//! The error type of every fallible operation, mirroring Mastodon.py's exception tree.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::scope::Scopes;
use crate::transport::TransportError;

/// Everything that can go wrong. Mirrors Mastodon.py's exceptions so the same cases can be
/// matched: `InvalidArgument` ↔ `MastodonIllegalArgumentError`, `Network` ↔
/// `MastodonNetworkError`, `Api` ↔ `MastodonAPIError` and its status subclasses (see
/// [`ApiError::kind`]), `RateLimit` ↔ `MastodonRatelimitError`, `Version` ↔
/// `MastodonVersionError`, `Store` ↔ `MastodonIOError` for credential files.
///
/// No variant's `Display` or `Debug` contains a secret.
///
/// ```
/// use mastodon_auth_core::{ApiError, Error};
/// let err = Error::Api(ApiError::new(401, "GET /api/v1/accounts/verify_credentials")
///     .with_error("The access token is invalid"));
/// assert!(err.is_unauthorized());
/// assert_eq!(
///     err.to_string(),
///     "GET /api/v1/accounts/verify_credentials: 401 Unauthorized: The access token is invalid"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller's argument (or configuration) is not acceptable; says which and why.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request did not complete: DNS, connection, TLS, timeout, a broken body.
    #[error("could not complete request: {0}")]
    Network(#[from] TransportError),
    /// The server answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The server's answer could not be understood.
    #[error(transparent)]
    MalformedResponse(#[from] MalformedResponse),
    /// A rate limit stopped the request.
    #[error(transparent)]
    RateLimit(#[from] RateLimitError),
    /// The server's version is too old for what was asked, or could not be determined.
    #[error("{0}")]
    Version(String),
    /// A credential store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The person (or the server) refused the authorization request.
    #[error("authorization was denied{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    AccessDenied {
        /// The server's `error_description`, if any.
        description: Option<String>,
    },
    /// The `state` of an authorization callback does not match the request's: the callback
    /// did not come from this authorization (possible CSRF).
    #[error("the authorization callback's state does not match this request (possible CSRF)")]
    StateMismatch,
    /// The server does not offer the OAuth grant that was asked for.
    #[error("{message}")]
    UnsupportedGrant {
        /// The grant, as sent in `grant_type`.
        grant: &'static str,
        /// What to do instead.
        message: String,
    },
    /// The server granted fewer scopes than requested (Mastodon.py raises `MastodonAPIError`).
    #[error("Granted scopes \"{}\" do not contain all of the requested scopes \"{requested}\".", granted.expanded().join(" "))]
    ScopeMismatch {
        /// What the server granted.
        granted: Scopes,
        /// What was asked for.
        requested: Scopes,
    },
}

impl Error {
    /// The API error, if this is one.
    #[must_use]
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// HTTP 401 (`MastodonUnauthorizedError`).
    #[must_use]
    pub fn is_unauthorized(&self) -> bool {
        self.api().is_some_and(ApiError::is_unauthorized)
    }

    /// HTTP 404 (`MastodonNotFoundError`).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.api().is_some_and(ApiError::is_not_found)
    }

    /// HTTP 5xx (`MastodonServerError`).
    #[must_use]
    pub fn is_server_error(&self) -> bool {
        self.api().is_some_and(ApiError::is_server_error)
    }

    /// `true` for failures that mean the credentials are not (or no longer) good: 401, an
    /// OAuth `invalid_grant` / `invalid_client`, a refused authorization, a state mismatch.
    #[must_use]
    pub fn is_authentication(&self) -> bool {
        match self {
            Error::Api(e) => {
                e.is_unauthorized()
                    || matches!(e.error.as_deref(), Some("invalid_grant" | "invalid_client"))
            }
            Error::AccessDenied { .. } | Error::StateMismatch => true,
            _ => false,
        }
    }
}

/// Which Mastodon.py exception class an [`ApiError`] corresponds to (§15.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 404 `MastodonNotFoundError`.
    NotFound,
    /// 401 `MastodonUnauthorizedError`.
    Unauthorized,
    /// 500 `MastodonInternalServerError`.
    InternalServerError,
    /// 502 `MastodonBadGatewayError`.
    BadGateway,
    /// 503 `MastodonServiceUnavailableError`.
    ServiceUnavailable,
    /// 504 `MastodonGatewayTimeoutError`.
    GatewayTimeout,
    /// 501, 505–511: `MastodonServerError`.
    ServerError,
    /// Any other status ≥ 400: `MastodonAPIError`.
    Other,
}

/// An error status from the server, with what the server said about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status code.
    pub status: u16,
    /// The canonical reason phrase for the status (`Unauthorized`).
    pub reason: String,
    /// The server's `error` value: a string as is, any other JSON value as JSON text, or a
    /// bare JSON string body. `None` when the body had none.
    pub error: Option<String>,
    /// The server's OAuth `error_description`, when present.
    pub error_description: Option<String>,
    /// Method and path of the request (never the query, which may hold secrets).
    pub endpoint: String,
}

impl ApiError {
    /// An error for `status` on `endpoint` (`"GET /path"`), with no server message.
    #[must_use]
    pub fn new(status: u16, endpoint: impl Into<String>) -> Self {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown Error")
            .to_owned();
        Self {
            status,
            reason,
            error: None,
            error_description: None,
            endpoint: endpoint.into(),
        }
    }

    /// Sets the server's `error` text.
    #[must_use]
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// Sets the server's `error_description`.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.error_description = Some(description.into());
        self
    }

    /// Mastodon.py's exception class for this status.
    #[must_use]
    pub fn kind(&self) -> ApiErrorKind {
        match self.status {
            404 => ApiErrorKind::NotFound,
            401 => ApiErrorKind::Unauthorized,
            500 => ApiErrorKind::InternalServerError,
            502 => ApiErrorKind::BadGateway,
            503 => ApiErrorKind::ServiceUnavailable,
            504 => ApiErrorKind::GatewayTimeout,
            501 | 505..=511 => ApiErrorKind::ServerError,
            _ => ApiErrorKind::Other,
        }
    }

    /// 404.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// 401.
    #[must_use]
    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }

    /// 5xx.
    #[must_use]
    pub fn is_server_error(&self) -> bool {
        (500..=599).contains(&self.status)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.endpoint, self.status, self.reason)?;
        match (&self.error, &self.error_description) {
            (Some(e), Some(d)) => write!(f, ": {e}: {d}"),
            (Some(e), None) => write!(f, ": {e}"),
            (None, Some(d)) => write!(f, ": {d}"),
            (None, None) if self.status == 404 => f.write_str(": Endpoint not found."),
            (None, None) => Ok(()),
        }
    }
}

/// A response the client could not make sense of: not JSON, truncated JSON, a missing field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{endpoint}: could not parse the server's answer (HTTP {status}): {problem}{}", excerpt.as_deref().map(|e| format!("; the body began {e:?}")).unwrap_or_default())]
#[non_exhaustive]
pub struct MalformedResponse {
    /// HTTP status of the response.
    pub status: u16,
    /// Method and path of the request.
    pub endpoint: String,
    /// What was wrong.
    pub problem: String,
    /// The start of the body; left out for responses that can carry secrets (tokens, apps).
    pub excerpt: Option<String>,
}

/// Why a rate limit stopped a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The server answered 429 and the rate-limit method says not to wait.
    #[error("Hit rate limit.{}", reset.map(|r| format!(" It resets in {:.0} s.", r.duration_since(SystemTime::now()).unwrap_or_default().as_secs_f64())).unwrap_or_default())]
    Hit {
        /// When the server said the window resets (local clock), if it said so usably.
        reset: Option<SystemTime>,
    },
    /// Pace mode needs a usable reset time and the server did not give one.
    #[error(
        "Cannot pace requests because the server did not provide a usable rate limit reset time."
    )]
    NoUsableReset,
    /// A rate-limit header could not be understood.
    #[error(transparent)]
    BadHeader(#[from] HeaderError),
    /// The client-side quota would be exceeded and the method is `throw`.
    #[error("client-side quota exhausted; the next request is allowed in {:.1} s", wait.as_secs_f64())]
    QuotaExhausted {
        /// How long until a request would be allowed.
        wait: std::time::Duration,
    },
    /// A rate budget shared between processes could not be reached (its server is down or
    /// too slow) and the limiter is configured to fail rather than pace on its own.
    #[error("the shared rate limit in {backend} is unavailable: {reason}")]
    Unavailable {
        /// Where the shared budget lives (`redis`).
        backend: &'static str,
        /// What went wrong (never a credential).
        reason: String,
    },
}

/// A response header whose value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {header} header {value:?}: {reason}")]
#[non_exhaustive]
pub struct HeaderError {
    /// The header's name.
    pub header: &'static str,
    /// Its value (rate-limit headers carry no secrets), cut to 64 characters.
    pub value: String,
    /// What was wrong with it.
    pub reason: String,
}

impl HeaderError {
    pub(crate) fn new(header: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            header,
            value: value.chars().take(64).collect(),
            reason: reason.into(),
        }
    }
}

/// A credential store failed. Every variant names the file (and line) where it applies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading, writing, locking or renaming a file failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What the store was doing (`read`, `write`, `lock`, `rename`, …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what the store expects. The file is left as it is.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The 1-based line, where it applies.
        line: Option<usize>,
        /// What is wrong (never the secret content itself).
        reason: String,
    },
    /// A file is larger than any credential file could be.
    #[error("{} is {size} bytes, more than the {limit} a credential file may have", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A file names another instance than the one configured
    /// (Mastodon.py: "Mismatch in base URLs between files and/or specified").
    #[error("Mismatch in base URLs between files and/or specified: {} says {found}, expected {expected}", path.display())]
    BaseUrlMismatch {
        /// The file.
        path: PathBuf,
        /// The base URL in the file.
        found: String,
        /// The base URL configured.
        expected: String,
    },
    /// The store keeps several accounts and needs to know which one this is.
    #[error(
        "this store keeps several accounts: the credentials must name their account (user@instance)"
    )]
    AccountRequired,
    /// The account is not in the store.
    #[error("no account {0} in the store")]
    UnknownAccount(String),
    /// The store cannot keep this kind of credentials (a Mastodon.py token file has no place
    /// for an app, for example). Says what was asked and why it cannot be done.
    #[error("{0}")]
    Unsupported(String),
    /// A database holding the credentials failed: it cannot be reached, it refused a query,
    /// or a stored row is not valid. The transaction was rolled back.
    #[error("{backend}: {source}")]
    Backend {
        /// Which backend (`postgres`).
        backend: &'static str,
        /// The backend's error (never a secret).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A [`StoreError::Backend`] error.
    ///
    /// ```
    /// use mastodon_auth_core::StoreError;
    /// let err = StoreError::backend("postgres", "connection refused");
    /// assert_eq!(err.to_string(), "postgres: connection refused");
    /// ```
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            backend,
            source: source.into(),
        }
    }
}
