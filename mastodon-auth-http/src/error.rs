//! Why a [`HyperTransport`](crate::HyperTransport) could not be built.

use std::fmt;

/// A configuration problem found by
/// [`HyperTransportBuilder::build`](crate::HyperTransportBuilder::build): the builder's calls
/// chain, and everything they were given is checked there, once.
///
/// Never quotes a proxy password: proxy URLs appear with their credentials replaced by `***`.
///
/// ```
/// use mastodon_auth_http::{BuildError, HyperTransport};
///
/// let err = HyperTransport::builder()
///     .proxy("ftp://alice:secret@proxy.example:21")
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, BuildError::Proxy { .. }));
/// assert!(!err.to_string().contains("secret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A certificate given to `add_root_pem` or `add_root_der` cannot be used as a trust anchor.
    #[error("extra root certificate #{index}: {reason}")]
    RootCertificate {
        /// Which one, counting from 1 in the order they were added (each PEM counts once).
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// No root certificate would be trusted, so no HTTPS server could be verified.
    #[error("no trusted root certificates: enable the webpki roots or add a CA certificate")]
    NoRootCertificates,
    /// The user agent cannot be sent as an HTTP header value.
    #[error("the user agent {value:?} contains characters not allowed in an HTTP header")]
    UserAgent {
        /// The user agent as given.
        value: String,
    },
    /// A proxy URL, from [`proxy`](crate::HyperTransportBuilder::proxy) or the environment,
    /// is unusable.
    #[error("{origin} ({url}) is not a usable proxy: {reason}")]
    Proxy {
        /// Where the URL came from.
        origin: ProxyOrigin,
        /// The URL, credentials replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A duration setting that must be longer than zero is zero.
    #[error("{setting} cannot be zero: use {instead}")]
    ZeroDuration {
        /// The builder method.
        setting: &'static str,
        /// What to write instead.
        instead: &'static str,
    },
    /// rustls refused the TLS configuration.
    #[error("TLS configuration failed: {message}")]
    Tls {
        /// rustls's message.
        message: String,
    },
}

/// Where a proxy URL came from, for [`BuildError::Proxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyOrigin {
    /// [`HyperTransportBuilder::proxy`](crate::HyperTransportBuilder::proxy).
    Builder,
    /// This environment variable (e.g. `HTTPS_PROXY` or `https_proxy`).
    Environment(&'static str),
}

impl fmt::Display for ProxyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyOrigin::Builder => f.write_str("the proxy URL given to the builder"),
            ProxyOrigin::Environment(name) => write!(f, "the proxy URL in ${name}"),
        }
    }
}
