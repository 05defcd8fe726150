//! The error type of every fallible operation, mirroring Mastodon.py's exception tree.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::account_key::{AccountKey, AccountKeyError};
use crate::instance_url::{InstanceUrlError, UrlProblem};
use crate::oauth_code::OAuthErrorCode;
use crate::scope::{ScopeError, Scopes};
use crate::transport::TransportError;
use crate::version::VersionParseError;

/// Everything that can go wrong. Mirrors Mastodon.py's exceptions so the same cases can be
/// matched: `InvalidArgument` and the other input and configuration variants ↔
/// `MastodonIllegalArgumentError`, `Network` ↔ `MastodonNetworkError`, `Api` ↔
/// `MastodonAPIError` and its status subclasses (see [`ApiError::kind`]), `RateLimit` ↔
/// `MastodonRatelimitError`, `Version` ↔ `MastodonVersionError`, `Store` ↔ `MastodonIOError`
/// for credential files.
///
/// Each case a caller would branch on has its own variant; the `is_*` methods group them.
/// Every parser has its own small error ([`InstanceUrlError`], [`AccountKeyError`],
/// [`ScopeError`], [`VersionParseError`], [`ParseOptionError`]), which converts into this one,
/// so `?` works either way. No variant's `Display` or `Debug` contains a secret.
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
    /// One argument is not acceptable (an empty application name, a rate-limit quota of
    /// zero); says which and why.
    #[error("{0}")]
    InvalidArgument(String),
    /// An instance URL that cannot be used. The URL is shown without its password.
    #[error(transparent)]
    InvalidUrl(#[from] InstanceUrlError),
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
    #[error(transparent)]
    InvalidAccountKey(#[from] AccountKeyError),
    /// A scope that cannot be sent (empty, or with white space or a control character).
    #[error(transparent)]
    InvalidScope(#[from] ScopeError),
    /// A named option (a version check mode, a feature set) that is not one of its values.
    #[error(transparent)]
    InvalidOption(#[from] ParseOptionError),
    /// The client's configuration cannot work (a client id without its secret, a user agent
    /// that cannot be sent); says what to change.
    #[error(transparent)]
    Config(#[from] ConfigError),
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
    #[error(fmt = unexpected_redirect)]
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
    /// The server's version is too old for what was asked, or a version cannot be parsed
    /// (a [`VersionParseError`] converts into this variant).
    #[error(transparent)]
    Version(#[from] VersionError),
    /// A credential store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The person or the server refused the authorization: the callback brought an OAuth
    /// `error` (RFC 6749 section 4.1.2.1), such as `access_denied` or `invalid_scope`.
    #[error(fmt = authorization_refused)]
    AuthorizationRefused {
        /// The OAuth error code (`access_denied`, `invalid_scope`, …).
        error: OAuthErrorCode,
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
    #[error(fmt = scope_mismatch)]
    ScopeMismatch {
        /// What the server granted.
        granted: Scopes,
        /// What was asked for.
        requested: Scopes,
    },
}

// The messages below need logic, so they are written out instead of squeezed into an
// `#[error]` attribute; thiserror's `fmt =` hands them each field by reference.

#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn unexpected_redirect(
    status: &u16,
    endpoint: &str,
    location_host: &Option<String>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    write!(f, "{endpoint}: unexpected redirect (HTTP {status})")?;
    match location_host {
        Some(host) => write!(f, " to {host}"),
        None => Ok(()),
    }
}

#[allow(clippy::ref_option)]
fn authorization_refused(
    error: &OAuthErrorCode,
    description: &Option<String>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    write!(f, "the authorization was refused ({error})")?;
    match description {
        Some(description) => write!(f, ": {description}"),
        None => Ok(()),
    }
}

/// Mastodon.py's `log_in` message, with the granted scopes expanded as it expands them.
fn scope_mismatch(granted: &Scopes, requested: &Scopes, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("Granted scopes \"")?;
    for (i, scope) in granted.expanded().iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        f.write_str(scope)?;
    }
    write!(
        f,
        "\" do not contain all of the requested scopes \"{requested}\"."
    )
}

impl From<VersionParseError> for Error {
    fn from(e: VersionParseError) -> Self {
        Error::Version(VersionError::Unparsable(e))
    }
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
                | Error::InvalidUrl(_)
                | Error::InvalidAccountKey(_)
                | Error::InvalidScope(_)
                | Error::InvalidOption(_)
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
                    || matches!(
                        e.oauth_code(),
                        Some(OAuthErrorCode::InvalidGrant | OAuthErrorCode::InvalidClient)
                    )
            }
            Error::NotLoggedIn | Error::AuthorizationRefused { .. } | Error::StateMismatch => true,
            _ => false,
        }
    }

    /// `true` when the person (or the server on their behalf) declined the authorization
    /// (`access_denied`), as opposed to another refusal such as `invalid_scope`.
    #[must_use]
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::AuthorizationRefused { error, .. } if *error == OAuthErrorCode::AccessDenied)
    }
}

/// Why the client's configuration cannot work: [`Error::Config`].
///
/// ```
/// use mastodon_auth_core::ConfigError;
/// let err = ConfigError::UserAgent { user_agent: "bot\n".into() };
/// assert_eq!(err.to_string(), r#"invalid user agent "bot\n": it must be visible ASCII"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The user agent cannot be sent in a header.
    #[error("invalid user agent {user_agent:?}: it must be visible ASCII")]
    UserAgent {
        /// The user agent as given, cut to 128 characters (it is no secret).
        user_agent: String,
    },
    /// The access token has characters that cannot be sent in a header (the token itself
    /// is not shown).
    #[error("the access token contains characters that cannot be sent in a header")]
    AccessToken,
}

/// A named option that is not one of its values: what the builder's `FromStr` parsers
/// ([`VersionCheckMode`](crate::VersionCheckMode), [`FeatureSet`](crate::FeatureSet)) return.
/// Converts into [`Error::InvalidOption`].
///
/// ```
/// use mastodon_auth_core::FeatureSet;
/// let err = "mastodon".parse::<FeatureSet>().unwrap_err();
/// assert_eq!(err.given, "mastodon");
/// assert_eq!(
///     err.to_string(),
///     r#"invalid feature set "mastodon": use mainline, fedibird or pleroma"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptionError {
    /// What the option is (`"feature set"`).
    pub option: &'static str,
    /// The text given, cut to 64 characters.
    pub given: String,
    /// The values it accepts.
    pub expected: &'static [&'static str],
}

impl ParseOptionError {
    /// The error for `given`, which is not one of `expected`: for a parser of another named
    /// option (a crate built on this one has its own) to fail the same way.
    ///
    /// ```
    /// use mastodon_auth_core::ParseOptionError;
    /// let err = ParseOptionError::new("rate-limit method", "later", &["throw", "wait", "pace"]);
    /// assert_eq!(err.to_string(), r#"invalid rate-limit method "later": use throw, wait or pace"#);
    /// ```
    #[must_use]
    pub fn new(option: &'static str, given: &str, expected: &'static [&'static str]) -> Self {
        Self {
            option,
            given: given.chars().take(64).collect(),
            expected,
        }
    }
}

impl fmt::Display for ParseOptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} {:?}: use ", self.option, self.given)?;
        let last = self.expected.len().saturating_sub(1);
        for (i, value) in self.expected.iter().enumerate() {
            match i {
                0 => {}
                _ if i == last => f.write_str(" or ")?,
                _ => f.write_str(", ")?,
            }
            f.write_str(value)?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseOptionError {}

/// A version problem (Mastodon.py's `MastodonVersionError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// A version string has no `major[.minor[.patch]]` in it.
    #[error(transparent)]
    Unparsable(#[from] VersionParseError),
    /// The instance is older than the endpoint needs (only with a version check mode).
    #[error(fmt = version_too_old)]
    TooOld {
        /// The version the endpoint needs, `(major, minor, patch)`.
        required: (u64, u64, u64),
        /// The instance's version as known to the client (1.0.0 when it would not tell).
        known: (u64, u64, u64),
    },
}

/// Mastodon.py's message, which names the patch level when only that is too old.
fn version_too_old(
    required: &(u64, u64, u64),
    known: &(u64, u64, u64),
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let (major, minor, patch) = required;
    write!(
        f,
        "Version check failed (Need Mastodon instance version {major}.{minor}.{patch} to call this endpoint)"
    )?;
    if (known.0, known.1) == (*major, *minor) {
        write!(f, ". Patch is {}.", known.2)?;
    }
    Ok(())
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
///
/// The server's `error` is kept as it came ([`error`](Self::error)), because Mastodon puts
/// two different things there: an OAuth error code on its OAuth endpoints
/// (`{"error":"invalid_grant","error_description":"…"}`), and a sentence for people on its
/// API (`{"error":"Record not found"}`). [`oauth_code`](Self::oauth_code) reads the first
/// kind as an [`OAuthErrorCode`] and is `None` for the second, so both stay available and
/// neither is mistaken for the other.
///
/// ```
/// use mastodon_auth_core::{ApiError, OAuthErrorCode};
/// let oauth = ApiError::new(400, "POST /oauth/token").with_error("invalid_grant");
/// assert_eq!(oauth.oauth_code(), Some(OAuthErrorCode::InvalidGrant));
/// let api = ApiError::new(404, "GET /api/v1/statuses/1").with_error("Record not found");
/// assert_eq!((api.oauth_code(), api.error.as_deref()), (None, Some("Record not found")));
/// ```
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

    /// The server's `error` as an OAuth error code, when it has the shape of one (lower-case
    /// letters, digits and `_`: see [`OAuthErrorCode::recognize`]); `None` when there is no
    /// `error` or it is a sentence.
    #[must_use]
    pub fn oauth_code(&self) -> Option<OAuthErrorCode> {
        self.error.as_deref().and_then(OAuthErrorCode::recognize)
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

impl fmt::Display for MalformedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: could not parse the server's answer (HTTP {}): {}",
            self.endpoint, self.status, self.problem
        )?;
        match &self.excerpt {
            Some(excerpt) => write!(f, "; the body began {excerpt:?}"),
            None => Ok(()),
        }
    }
}

/// Why a rate limit stopped a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The server answered 429 and the rate-limit method says not to wait. Built with
    /// [`RateLimitError::hit`].
    #[error(fmt = rate_limit_hit)]
    Hit {
        /// When the server said the window resets, if it said so usably.
        reset: Option<RateLimitReset>,
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
        wait: Duration,
    },
    /// The server kept answering 429 and the limiter's retry budget (a number of retries and
    /// a total waiting time) is spent: it gives up instead of waiting without end.
    #[error(fmt = retry_budget_spent)]
    RetryBudgetSpent {
        /// How many times the request was sent again.
        retries: u32,
        /// How long the retries waited in all.
        waited: Duration,
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

impl RateLimitError {
    /// A [`RateLimitError::Hit`] at `now`, for a window that resets at `reset`: the wait is
    /// worked out here, once, so the error prints the same every time.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use mastodon_auth_core::RateLimitError;
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    /// let err = RateLimitError::hit(Some(now + Duration::from_secs(42)), now);
    /// assert_eq!(err.to_string(), "Hit rate limit. It resets in 42 s.");
    /// assert_eq!(RateLimitError::hit(None, now).to_string(), "Hit rate limit.");
    /// ```
    #[must_use]
    pub fn hit(reset: Option<SystemTime>, now: SystemTime) -> Self {
        Self::Hit {
            reset: reset.map(|at| RateLimitReset::new(at, now)),
        }
    }
}

/// When a rate-limit window resets: the time on the local clock, and how long that was from
/// when the error was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitReset {
    /// The reset, on the local clock.
    pub at: SystemTime,
    /// How long from when the error was made until `at` (zero when `at` had passed).
    pub wait: Duration,
}

impl RateLimitReset {
    /// The reset at `at`, seen at `now`.
    #[must_use]
    pub fn new(at: SystemTime, now: SystemTime) -> Self {
        Self {
            at,
            wait: at.duration_since(now).unwrap_or_default(),
        }
    }
}

#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn rate_limit_hit(reset: &Option<RateLimitReset>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("Hit rate limit.")?;
    match reset {
        Some(reset) => write!(f, " It resets in {:.0} s.", reset.wait.as_secs_f64()),
        None => Ok(()),
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn retry_budget_spent(retries: &u32, waited: &Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let noun = if *retries == 1 { "retry" } else { "retries" };
    write!(
        f,
        "the server kept answering 429 Too Many Requests: gave up after {retries} {noun} and {:.0} s of waiting",
        waited.as_secs_f64()
    )
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
    #[error(fmt = corrupt)]
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
    #[error(fmt = base_url_mismatch)]
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
    UnknownAccount(AccountKey),
    /// The store cannot do this (a Mastodon.py token file has no place for an app, for
    /// example). Says what was asked and why it cannot be done.
    #[error("cannot {operation}: {reason}")]
    Unsupported {
        /// What was asked.
        operation: StoreOperation,
        /// Why this store cannot (`"this MastodonPyFiles store was made without a client
        /// file"`).
        reason: &'static str,
    },
    /// The store's configuration cannot work (a connection string that does not parse, a
    /// CA certificate that cannot be used), found before anything was stored. Built with
    /// [`StoreError::invalid_config`]; the source is the store's own error.
    #[error("the {backend} credential store is misconfigured: {source}")]
    InvalidConfig {
        /// The backend's name (`"postgres"`).
        backend: &'static str,
        /// What is wrong. Like every `StoreError`, its text must not hold a secret.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another process held a file's lock for longer than the store waits.
    #[error(fmt = lock_timeout)]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long the store waited.
        waited: Duration,
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

#[allow(clippy::ref_option)]
fn corrupt(
    path: &std::path::Path,
    line: &Option<usize>,
    reason: &str,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    write!(f, "{}", path.display())?;
    if let Some(line) = line {
        write!(f, " line {line}")?;
    }
    write!(f, ": {reason}")
}

#[allow(clippy::ref_option)]
fn base_url_mismatch(
    path: &Option<PathBuf>,
    found: &str,
    expected: &str,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    f.write_str("Mismatch in base URLs between files and/or specified: ")?;
    match path {
        Some(path) => write!(f, "{}", path.display())?,
        None => f.write_str("the credential store")?,
    }
    write!(f, " says {found}, expected {expected}")
}

fn lock_timeout(
    path: &std::path::Path,
    waited: &Duration,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    write!(
        f,
        "gave up after {:.0} s waiting for the lock {} (held by another process)",
        waited.as_secs_f64(),
        path.display()
    )
}

/// What a credential store was asked to do, for [`StoreError::Unsupported`]. Prints as the
/// phrase that follows "cannot" (`save an app`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreOperation {
    /// [`CredentialStore::load_app`](crate::CredentialStore::load_app).
    LoadApp,
    /// [`CredentialStore::save_app`](crate::CredentialStore::save_app).
    SaveApp,
    /// [`CredentialStore::load_user`](crate::CredentialStore::load_user) or
    /// [`load_active_user`](crate::CredentialStore::load_active_user).
    LoadUser,
    /// [`CredentialStore::save_user`](crate::CredentialStore::save_user).
    SaveUser,
    /// [`CredentialStore::lease_user`](crate::CredentialStore::lease_user).
    LeaseUser,
    /// [`AccountDirectory::list_users`](crate::AccountDirectory::list_users) or
    /// [`active_user`](crate::AccountDirectory::active_user).
    ListUsers,
    /// [`AccountDirectory::set_active_user`](crate::AccountDirectory::set_active_user).
    SetActiveUser,
    /// [`AccountDirectory::remove_user`](crate::AccountDirectory::remove_user), or a store's
    /// own way of forgetting its user.
    RemoveUser,
}

impl fmt::Display for StoreOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreOperation::LoadApp => "load an app",
            StoreOperation::SaveApp => "save an app",
            StoreOperation::LoadUser => "load a user",
            StoreOperation::SaveUser => "save a user",
            StoreOperation::LeaseUser => "lease a user",
            StoreOperation::ListUsers => "list the accounts",
            StoreOperation::SetActiveUser => "switch the active account",
            StoreOperation::RemoveUser => "remove a user",
        })
    }
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

    /// A [`StoreError::InvalidConfig`]: `backend` names the store's backend, `source` says
    /// what is wrong with its configuration.
    ///
    /// ```
    /// use mastodon_auth_core::StoreError;
    /// let err = StoreError::invalid_config("postgres", "the database CA PEM holds no certificate");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "the postgres credential store is misconfigured: the database CA PEM holds no certificate"
    /// );
    /// ```
    pub fn invalid_config(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::InvalidConfig {
            backend,
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn every_parser_error_converts_and_counts_as_invalid_input() {
        let errors: [Error; 5] = [
            crate::InstanceUrl::parse("").unwrap_err().into(),
            AccountKey::parse("alice").unwrap_err().into(),
            crate::Scope::new("").unwrap_err().into(),
            "x".parse::<crate::FeatureSet>().unwrap_err().into(),
            ConfigError::AccessToken.into(),
        ];
        for e in errors {
            assert!(e.is_invalid_input(), "{e:?}");
            assert!(!e.is_network() && !e.is_authentication(), "{e:?}");
        }
        let version: Error = crate::MastodonVersion::parse("x").unwrap_err().into();
        assert!(matches!(
            version,
            Error::Version(VersionError::Unparsable(_))
        ));
        assert_eq!(version.to_string(), r#"could not parse the version "x""#);
    }

    #[test]
    fn option_errors_list_the_values() {
        let one = ParseOptionError::new("mode", "x", &["a"]);
        assert_eq!(one.to_string(), r#"invalid mode "x": use a"#);
        let two = ParseOptionError::new("mode", "x", &["a", "b"]);
        assert_eq!(two.to_string(), r#"invalid mode "x": use a or b"#);
        let long = ParseOptionError::new("mode", &"y".repeat(100), &["a"]);
        assert_eq!(long.given.len(), 64);
    }

    #[test]
    fn oauth_codes_drive_the_groupings() {
        let api = |status, error: &str| {
            Error::Api(ApiError::new(status, "POST /oauth/token").with_error(error))
        };
        assert!(api(400, "invalid_grant").is_authentication());
        assert!(api(400, "invalid_client").is_authentication());
        assert!(!api(400, "invalid_scope").is_authentication());
        // A sentence that mentions a code is no code.
        assert!(!api(400, "invalid_grant happened").is_authentication());
        assert_eq!(ApiError::new(400, "x").oauth_code(), None);

        let refused = |code: &str| Error::AuthorizationRefused {
            error: code.into(),
            description: None,
        };
        assert!(refused("access_denied").is_access_denied());
        assert!(!refused("invalid_scope").is_access_denied());
        assert!(refused("invalid_scope").is_authentication());
        assert_eq!(
            refused("server_error").to_string(),
            "the authorization was refused (server_error)"
        );
        let described = Error::AuthorizationRefused {
            error: OAuthErrorCode::AccessDenied,
            description: Some("No.".into()),
        };
        assert_eq!(
            described.to_string(),
            "the authorization was refused (access_denied): No."
        );
    }

    #[test]
    fn messages_written_out_read_as_before() {
        let redirect = |location_host: Option<&str>| Error::UnexpectedRedirect {
            status: 302,
            endpoint: "GET /api/v1/x".into(),
            location_host: location_host.map(Into::into),
        };
        assert_eq!(
            redirect(Some("evil.example")).to_string(),
            "GET /api/v1/x: unexpected redirect (HTTP 302) to evil.example"
        );
        assert_eq!(
            redirect(None).to_string(),
            "GET /api/v1/x: unexpected redirect (HTTP 302)"
        );

        let mismatch = Error::ScopeMismatch {
            granted: Scopes::parse("follow").unwrap(),
            requested: Scopes::parse("read").unwrap(),
        };
        assert_eq!(
            mismatch.to_string(),
            "Granted scopes \"follow read:blocks read:follows read:mutes write:blocks write:follows \
             write:mutes\" do not contain all of the requested scopes \"read\"."
        );

        let too_old = |known| VersionError::TooOld {
            required: (4, 3, 1),
            known,
        };
        assert_eq!(
            too_old((4, 3, 0)).to_string(),
            "Version check failed (Need Mastodon instance version 4.3.1 to call this endpoint). Patch is 0."
        );
        assert_eq!(
            too_old((4, 2, 9)).to_string(),
            "Version check failed (Need Mastodon instance version 4.3.1 to call this endpoint)"
        );

        let malformed = |excerpt: Option<&str>| MalformedResponse {
            status: 200,
            endpoint: "GET /x".into(),
            problem: "expected value".into(),
            excerpt: excerpt.map(Into::into),
        };
        assert_eq!(
            malformed(Some("<html>")).to_string(),
            r#"GET /x: could not parse the server's answer (HTTP 200): expected value; the body began "<html>""#
        );
        assert_eq!(
            malformed(None).to_string(),
            "GET /x: could not parse the server's answer (HTTP 200): expected value"
        );

        let budget = |retries| RateLimitError::RetryBudgetSpent {
            retries,
            waited: Duration::from_secs(61),
        };
        assert_eq!(
            budget(1).to_string(),
            "the server kept answering 429 Too Many Requests: gave up after 1 retry and 61 s of waiting"
        );
        assert!(budget(2).to_string().contains("after 2 retries and"));
    }

    #[test]
    fn a_hit_prints_the_same_every_time() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let hit = RateLimitError::hit(Some(now + Duration::from_millis(41_600)), now);
        let first = hit.to_string();
        assert_eq!(first, "Hit rate limit. It resets in 42 s.");
        assert_eq!(hit.to_string(), first);
        // A reset that had passed when the error was made waits for nothing.
        let passed = RateLimitReset::new(now - Duration::from_secs(5), now);
        assert_eq!(passed.wait, Duration::ZERO);
        assert_eq!(
            RateLimitError::hit(None, now).to_string(),
            "Hit rate limit."
        );
    }

    #[test]
    fn store_errors_name_what_they_are_about() {
        let key: AccountKey = "carol@c.example".parse().unwrap();
        assert_eq!(
            StoreError::UnknownAccount(key).to_string(),
            "no account carol@c.example in the store"
        );
        let unsupported = StoreError::Unsupported {
            operation: StoreOperation::SaveApp,
            reason: "this store was made without a client file",
        };
        assert_eq!(
            unsupported.to_string(),
            "cannot save an app: this store was made without a client file"
        );
        for operation in [
            StoreOperation::LoadApp,
            StoreOperation::SaveApp,
            StoreOperation::LoadUser,
            StoreOperation::SaveUser,
            StoreOperation::LeaseUser,
            StoreOperation::ListUsers,
            StoreOperation::SetActiveUser,
            StoreOperation::RemoveUser,
        ] {
            assert!(!operation.to_string().is_empty(), "{operation:?}");
        }
        let corrupt = |line| StoreError::Corrupt {
            path: "/x/usercred.secret".into(),
            line,
            reason: "no token".into(),
        };
        assert_eq!(
            corrupt(Some(2)).to_string(),
            "/x/usercred.secret line 2: no token"
        );
        assert_eq!(corrupt(None).to_string(), "/x/usercred.secret: no token");
        let mismatch = |path: Option<&str>| StoreError::BaseUrlMismatch {
            path: path.map(Into::into),
            found: "https://a.example".into(),
            expected: "https://b.example".into(),
        };
        assert_eq!(
            mismatch(None).to_string(),
            "Mismatch in base URLs between files and/or specified: the credential store says \
             https://a.example, expected https://b.example"
        );
        assert!(
            mismatch(Some("/x/c.secret"))
                .to_string()
                .contains(": /x/c.secret says ")
        );
        let lock = StoreError::LockTimeout {
            path: "/x/a.lock".into(),
            waited: Duration::from_secs(30),
        };
        assert_eq!(
            lock.to_string(),
            "gave up after 30 s waiting for the lock /x/a.lock (held by another process)"
        );
        let config = StoreError::invalid_config("postgres", "no certificate");
        assert!(std::error::Error::source(&config).is_some());
    }
}
