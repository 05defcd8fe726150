//! What a [`Pacer`](crate::Pacer) waits for, and the observer that hears about long waits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a [`Pacer`](crate::Pacer) is about to wait; given to the observer set with
/// [`Pacer::on_wait`](crate::Pacer::on_wait). Its `Display` completes "waiting 12 s for …".
///
/// ```
/// use mastodon_auth_ratelimit::WaitReason;
/// let reason = WaitReason::TooManyRequests { retry: 2, of: 5 };
/// assert_eq!(
///     format!("waiting 12 s for {reason}"),
///     "waiting 12 s for the server's rate limit (HTTP 429, retry 2 of 5)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitReason {
    /// The client-side quota has no free slot yet.
    Quota,
    /// Pace mode spreads the requests over the server's rate-limit window.
    Pace,
    /// The server answered 429 Too Many Requests: the request is sent again after the wait.
    TooManyRequests {
        /// Which retry of the current run of 429s the wait leads to (1 for the first).
        retry: u32,
        /// How many retries the [`RetryBudget`](crate::RetryBudget) allows.
        of: u32,
    },
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Quota => f.write_str("the client-side request quota"),
            Self::Pace => f.write_str("pacing within the server's rate limit"),
            Self::TooManyRequests { retry, of } if *of == u32::MAX => {
                write!(f, "the server's rate limit (HTTP 429, retry {retry})")
            }
            Self::TooManyRequests { retry, of } => {
                write!(
                    f,
                    "the server's rate limit (HTTP 429, retry {retry} of {of})"
                )
            }
        }
    }
}

/// The observer of long waits, with the shortest wait it hears about.
#[derive(Clone)]
pub(crate) struct WaitObserver {
    pub(crate) at_least: Duration,
    pub(crate) notify: Arc<dyn Fn(Duration, WaitReason) + Send + Sync>,
}

impl WaitObserver {
    pub(crate) fn starting(&self, duration: Duration, reason: WaitReason) {
        if duration >= self.at_least {
            (self.notify)(duration, reason);
        }
    }
}

impl fmt::Debug for WaitObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitObserver")
            .field("at_least", &self.at_least)
            .finish_non_exhaustive()
    }
}
