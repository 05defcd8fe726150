//! The error type of every fallible operation, mirroring Mastodon.py's exception tree.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::scope::Scopes;
use crate::transport::TransportError;

/// Everything that can go wrong. Mirrors Mastodon.py's exceptions so the same cases can be
/// matched: `InvalidArgument` and the other input and configuration variants ↔
/// `MastodonIllegalArgumentError`, `Network` ↔ `MastodonNetworkError`, `Api` ↔
/// `MastodonAPIError` and its status subclasses (see [`ApiError::kind`]), `RateLimit` ↔
/// `MastodonRatelimitError`, `Version` ↔ `MastodonVersionError`, `Store` ↔ `MastodonIOError`
/// for credential files.
///
/// Each case a caller would branch on has its own variant; the `is_*` methods group them.
/// No variant's `Display` or `Debug` contains a secret.
///
/// ```
/// use mastodon_auth_core::{ApiError, Error};
/// let err = Error::Api(ApiError::new(401, "GET /api/v1/accounts/verify_credentials")
///     .with_error("The access token is invalid"));
/// assert!(err.is_unauthorized() && err.is_authentication());
/// assert_eq!(
///     err.to_string(),
///     "GET /api/v1/accounts/verify_credentials: 401 Unauthorized: The access token is invalid"
/// );
/// assert!(Error::NotLoggedIn.is_authentication());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One argument is not acceptable (an empty application name, an unknown method name);
    /// says which and why.
    #[error("{0}")]
    InvalidArgument(String),
    /// An instance URL that cannot be used. The URL is shown without its password.
    #[error("invalid instance URL {url:?}: {problem}")]
    InvalidUrl {
        /// The URL as given, password masked ([`redact::url`](crate::redact::url)).
        url: String,
        /// What is wrong with it.
        problem: UrlProblem,
    },
    /// A URL from the server's OAuth metadata that the client will not send credentials to.
    #[error("refusing the OAuth endpoint {url} from the server's metadata: {problem}")]
    UnsafeOAuthUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong with it.
        problem: UrlProblem,
    },
    /// A redirect URI that is not one a client may use (see [`RedirectUri`](crate::RedirectUri)).
    #[error(transparent)]
    InvalidRedirectUri(#[from] crate::redirect_uri::RedirectUriError),
    /// An account key that is not `user@host`, or has characters a key must not have.
    #[error("invalid account {key:?}: {problem}")]
    InvalidAccountKey {
        /// The key as given (shown escaped by `Debug` formatting).
        key: String,
        /// What is wrong with it.
        problem: AccountKeyProblem,
    },
    /// The client's configuration cannot work (a client id without its secret, a user agent
    /// that cannot be sent); says what to change.
    #[error("{0}")]
    Config(String),
    /// The call needs a user's access token and the client has none.
    #[error("not logged in: this needs a user's access token (log in first)")]
    NotLoggedIn,
    /// The call needs the app's client id (and secret) and the client has none.
    #[error(
        "{needed_for} needs the app's client id and secret: register an app (create_app) or configure one"
    )]
    MissingClientCredentials {
        /// What needed them (`"revoking a token"`).
        needed_for: &'static str,
    },
    /// The call needs a credential store and none is configured.
    #[error("no credential store is configured for this client")]
    NoStore,
    /// The request did not complete: DNS, connection, TLS, timeout, a broken body.
    #[error("could not complete request: {0}")]
    Network(#[from] TransportError),
    /// The server answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The server answered with a redirect where none belongs (the client never follows
    /// one: it would carry credentials to another place). Names the target's host only.
    #[error("{endpoint}: unexpected redirect (HTTP {status}){}", location_host.as_deref().map(|h| format!(" to {h}")).unwrap_or_default())]
    UnexpectedRedirect {
        /// The status (301, 302, 303, 307, 308).
        status: u16,
        /// Method and path of the request.
        endpoint: String,
        /// The host of the `Location` header, if it had one (never the whole location, which
        /// could carry secrets).
        location_host: Option<String>,
    },
    /// The server's answer could not be understood.
    #[error(transparent)]
    MalformedResponse(#[from] MalformedResponse),
    /// A rate limit stopped the request.
    #[error(transparent)]
    RateLimit(#[from] RateLimitError),
    /// The server's version is too old for what was asked, or a version cannot be parsed.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// A credential store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The person or the server refused the authorization: the callback brought an OAuth
    /// `error` (RFC 6749 section 4.1.2.1), such as `access_denied` or `invalid_scope`.
    #[error("the authorization was refused ({error}){}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    AuthorizationRefused {
        /// The OAuth error code (`access_denied`, `invalid_scope`, …).
        error: String,
        /// The server's `error_description`, if any.
        description: Option<String>,
    },
    /// The authorization callback carries neither a code nor an error.
    #[error("the authorization callback carries no code")]
    InvalidCallback,
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

    /// The request did not complete (DNS, connection, TLS, timeout): worth retrying later,
    /// and no sign that the credentials are bad.
    #[must_use]
    pub fn is_network(&self) -> bool {
        matches!(self, Error::Network(_))
    }

    /// A rate limit stopped the request.
    #[must_use]
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, Error::RateLimit(_))
    }

    /// The caller's input or configuration is wrong (an invalid URL, account key, argument
    /// or setting): asking again unchanged cannot succeed.
    #[must_use]
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidArgument(_)
                | Error::InvalidUrl { .. }
                | Error::InvalidAccountKey { .. }
                | Error::InvalidRedirectUri(_)
                | Error::Config(_)
        )
    }

    /// `true` for failures that mean the credentials are missing or not (or no longer) good:
    /// not logged in, 401, an OAuth `invalid_grant` / `invalid_client`, a refused
    /// authorization, a state mismatch.
    #[must_use]
    pub fn is_authentication(&self) -> bool {
        match self {
            Error::Api(e) => {
                e.is_unauthorized()
                    || matches!(e.error.as_deref(), Some("invalid_grant" | "invalid_client"))
            }
            Error::NotLoggedIn | Error::AuthorizationRefused { .. } | Error::StateMismatch => true,
            _ => false,
        }
    }

    /// `true` when the person (or the server on their behalf) declined the authorization
    /// (`access_denied`), as opposed to another refusal such as `invalid_scope`.
    #[must_use]
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::AuthorizationRefused { error, .. } if error == "access_denied")
    }
}

/// What is wrong with a URL: an instance URL given by the caller, or an OAuth endpoint named
/// by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlProblem {
    /// Nothing was given.
    Empty,
    /// The scheme is neither `http` nor `https`.
    Scheme,
    /// There is no host.
    NoHost,
    /// The host cannot be used: not a valid name or address, or an international name that
    /// cannot be converted to its ASCII (punycode) form. Says why.
    Host(String),
    /// The port is not a number from 1 to 65535.
    Port(String),
    /// The URL carries a user name or password.
    UserInfo,
    /// The URL carries a query.
    Query,
    /// The URL carries a fragment.
    Fragment,
    /// The URL contains white space or control characters.
    WhiteSpace,
    /// Plain `http` to a host that is not this machine, without the `allow_http` opt-in.
    PlainHttp,
    /// Not a URL at all (the parser's message).
    Syntax(String),
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlProblem::Empty => f.write_str("an instance URL is required"),
            UrlProblem::Scheme => f.write_str("the scheme must be http or https"),
            UrlProblem::NoHost => f.write_str("there is no host"),
            UrlProblem::Host(why) => write!(f, "the host is not usable: {why}"),
            UrlProblem::Port(port) => {
                write!(f, "the port {port:?} is not a number from 1 to 65535")
            }
            UrlProblem::UserInfo => {
                f.write_str("user names and passwords do not belong in the URL")
            }
            UrlProblem::Query => f.write_str("it cannot carry a query"),
            UrlProblem::Fragment => f.write_str("it cannot carry a fragment"),
            UrlProblem::WhiteSpace => f.write_str("it contains white space or control characters"),
            UrlProblem::Syntax(why) => write!(f, "it is not a valid URL: {why}"),
            UrlProblem::PlainHttp => f.write_str(
                "plain http is only used for loopback hosts (localhost, 127.0.0.0/8, [::1]); \
                 use https, or opt in with allow_http(true) for a development server",
            ),
        }
    }
}

/// What is wrong with an account key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountKeyProblem {
    /// It is not `user@host` (a part is empty, or has `@`, `/` or white space).
    Form,
    /// It contains a control character (C0, C1, DEL), shown escaped.
    ControlCharacter(char),
    /// It contains a bidirectional-text control (U+202A–U+202E, U+2066–U+2069, U+200E,
    /// U+200F, U+061C), which can make a key display as another.
    BidiControl(char),
    /// The host part is not a valid host (with an optional port from 1 to 65535).
    Host,
}

impl fmt::Display for AccountKeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountKeyProblem::Form => f.write_str("expected user@instance"),
            AccountKeyProblem::ControlCharacter(c) => {
                write!(f, "it contains the control character {c:?}")
            }
            AccountKeyProblem::BidiControl(c) => {
                write!(f, "it contains the bidirectional-text control {c:?}")
            }
            AccountKeyProblem::Host => {
                f.write_str("the instance must be a host name with an optional port (1-65535)")
            }
        }
    }
}

/// A version problem (Mastodon.py's `MastodonVersionError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// A version string has no `major[.minor[.patch]]` in it.
    #[error("could not parse the version {version:?}")]
    Unparsable {
        /// The string, cut to 80 characters.
        version: String,
    },
    /// The instance is older than the endpoint needs (only with a version check mode).
    #[error("Version check failed (Need Mastodon instance version {}.{}.{} to call this endpoint){}",
        required.0, required.1, required.2,
        if (known.0, known.1) == (required.0, required.1) { format!(". Patch is {}.", known.2) } else { String::new() })]
    TooOld {
        /// The version the endpoint needs, `(major, minor, patch)`.
        required: (u64, u64, u64),
        /// The instance's version as known to the client (1.0.0 when it would not tell).
        known: (u64, u64, u64),
    },
}

/// Which Mastodon.py exception class an [`ApiError`] corresponds to (Mastodon.py's
/// `__api_request` maps statuses to these classes).
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
    /// The server kept answering 429 and the limiter's retry budget (a number of retries and
    /// a total waiting time) is spent: it gives up instead of waiting without end.
    #[error(
        "the server kept answering 429 Too Many Requests: gave up after {retries} {} and {:.0} s of waiting",
        if *retries == 1 { "retry" } else { "retries" },
        waited.as_secs_f64()
    )]
    RetryBudgetSpent {
        /// How many times the request was sent again.
        retries: u32,
        /// How long the retries waited in all.
        waited: std::time::Duration,
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
    /// Stored credentials are for another instance than the one configured
    /// (Mastodon.py: "Mismatch in base URLs between files and/or specified"). Raised by the
    /// file stores, which know the file, and by the client builder for any store.
    #[error("Mismatch in base URLs between files and/or specified: {} says {found}, expected {expected}", path.as_deref().map_or_else(|| "the credential store".into(), |p| p.display().to_string()))]
    BaseUrlMismatch {
        /// The file, when the store keeps credentials in one.
        path: Option<PathBuf>,
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
    /// Another process held a file's lock for longer than the store waits.
    #[error(
        "gave up after {:.0} s waiting for the lock {} (held by another process)",
        waited.as_secs_f64(),
        path.display()
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long the store waited.
        waited: std::time::Duration,
    },
    /// A store's own backend failed (a database, a keyring, a remote service). Built with
    /// [`StoreError::backend`]; the source is the backend's own error, so callers can
    /// downcast it.
    #[error("the {backend} credential store failed: {source}")]
    Backend {
        /// The backend's name (`"sqlite"`, `"postgres"`, …).
        backend: &'static str,
        /// The backend's error. Like every `StoreError`, its text must not hold a secret.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A [`StoreError::Backend`]: `backend` names the store's backend, `source` is its error.
    ///
    /// ```
    /// use mastodon_auth_core::StoreError;
    /// let cause = std::io::Error::other("database is locked");
    /// let err = StoreError::backend("sqlite", cause);
    /// assert_eq!(err.to_string(), "the sqlite credential store failed: database is locked");
    /// assert!(std::error::Error::source(&err).is_some());
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
