//! How a client reacts to rate limits: Mastodon.py's `ratelimit_method`.

use std::str::FromStr;

use mastodon_auth_core::Error;

/// How a client reacts to rate limits (Mastodon.py's `ratelimit_method`).
///
/// ```
/// use mastodon_auth_ratelimit::RateLimitMethod;
/// assert_eq!("wait".parse::<RateLimitMethod>()?, RateLimitMethod::Wait);
/// assert_eq!(RateLimitMethod::pace(1.1)?, RateLimitMethod::Pace { pacefactor: 1.1 });
/// assert!("sometimes".parse::<RateLimitMethod>().is_err());
/// assert!(RateLimitMethod::pace(0.0).is_err());
/// # Ok::<(), mastodon_auth_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum RateLimitMethod {
    /// On a 429, sleep until the reset (or back off 2 s, doubling to 300 s) and resend.
    #[default]
    Wait,
    /// On a 429, return [`RateLimitError::Hit`](mastodon_auth_core::RateLimitError::Hit).
    Throw,
    /// Spread requests evenly over the window so that the limit is never hit.
    Pace {
        /// Above 1 the client sleeps less than the even spread (Mastodon.py's default 1.1).
        pacefactor: f64,
    },
}

impl RateLimitMethod {
    /// Mastodon.py's default pace factor.
    pub const DEFAULT_PACEFACTOR: f64 = 1.1;

    /// `Pace` with a checked factor.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `pacefactor` is finite and positive.
    pub fn pace(pacefactor: f64) -> Result<Self, Error> {
        if pacefactor.is_finite() && pacefactor > 0.0 {
            Ok(Self::Pace { pacefactor })
        } else {
            Err(Error::InvalidArgument(format!(
                "invalid ratelimit pacefactor {pacefactor}: it must be a positive number"
            )))
        }
    }
}

impl FromStr for RateLimitMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "wait" => Ok(Self::Wait),
            "throw" => Ok(Self::Throw),
            "pace" => Ok(Self::Pace {
                pacefactor: Self::DEFAULT_PACEFACTOR,
            }),
            _ => Err(Error::InvalidArgument(format!(
                "Invalid ratelimit method {s:?}: use wait, throw or pace."
            ))),
        }
    }
}
