//! The client-side quota: this crate's own type, so that the public API does not change with
//! governor's versions (governor runs it, see `pacer.rs`).

use std::num::NonZeroU32;
use std::time::Duration;

use mastodon_auth_core::Error;

/// A client-side request quota per key, applied as GCRA (the generic cell rate algorithm):
/// up to [`burst`](Self::burst) requests at once, then one more every
/// [`interval`](Self::interval). Such a quota admits at most `burst − 1 + ⌈W / interval⌉`
/// requests in any span `W`; [`Quota::window`] builds one with a hard "n per window" bound.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use mastodon_auth_ratelimit::Quota;
/// let five = NonZeroU32::new(5).unwrap();
/// let q = Quota::per_second(five);
/// assert_eq!((q.burst(), q.interval()), (five, Duration::from_millis(200)));
/// let q = Quota::per_minute(NonZeroU32::MIN).with_burst(five);
/// assert_eq!((q.burst(), q.interval()), (five, Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Never zero: governor (and the Redis script) read zero as "no quota".
    interval: Duration,
    burst: NonZeroU32,
}

impl Quota {
    /// `n` requests per second, all of them at once if need be (a burst of `n`).
    #[must_use]
    pub fn per_second(n: NonZeroU32) -> Self {
        Self::spread(Duration::from_secs(1), n)
    }

    /// `n` requests per minute, all of them at once if need be (a burst of `n`).
    #[must_use]
    pub fn per_minute(n: NonZeroU32) -> Self {
        Self::spread(Duration::from_secs(60), n)
    }

    /// `n` requests per hour, all of them at once if need be (a burst of `n`).
    #[must_use]
    pub fn per_hour(n: NonZeroU32) -> Self {
        Self::spread(Duration::from_secs(3600), n)
    }

    /// One request every `interval`, no burst; `None` for a zero interval.
    #[must_use]
    pub fn with_period(interval: Duration) -> Option<Self> {
        (!interval.is_zero()).then_some(Self {
            interval,
            burst: NonZeroU32::MIN,
        })
    }

    /// Never more than `requests` requests in any span of `per`.
    ///
    /// A burst of `requests` with one new request every `per / requests` would allow almost
    /// twice the limit in one server window (`b − 1 + ⌈W / τ⌉`). This quota keeps a small
    /// burst (`b = max(1, requests / 30)`, 10 for Mastodon's 300) for a quick start and sets
    /// `τ = ⌈per / (requests − b + 1)⌉`, so the bound is exactly `requests`; the sustained
    /// rate is `(requests − b + 1) / per`, 97 % of the limit for 300.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `requests` is 0 or `per` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mastodon_auth_ratelimit::Quota;
    /// let q = Quota::window(300, Duration::from_secs(300))?;
    /// assert_eq!(q.burst().get(), 10);
    /// // 291 intervals fit in 5 minutes: 10 − 1 + 291 = 300 requests at most.
    /// assert!(q.interval() * 291 >= Duration::from_secs(300));
    /// assert!(Quota::window(0, Duration::from_secs(1)).is_err());
    /// # Ok::<(), mastodon_auth_core::Error>(())
    /// ```
    pub fn window(requests: u32, per: Duration) -> Result<Self, Error> {
        let Some(n) = NonZeroU32::new(requests) else {
            return Err(Error::InvalidArgument(
                "a rate-limit quota must allow at least one request".into(),
            ));
        };
        if per.is_zero() {
            return Err(Error::InvalidArgument(
                "a rate-limit quota's window must be longer than zero".into(),
            ));
        }
        let burst = (n.get() / 30).max(1);
        let intervals = u128::from(n.get() - burst + 1);
        // Rounded up: a shorter interval would let one more request into the window.
        let tau = per.as_nanos().div_ceil(intervals);
        Ok(Self {
            interval: nanos(tau),
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        })
    }

    /// The same interval with a burst of `burst`.
    #[must_use]
    pub fn with_burst(self, burst: NonZeroU32) -> Self {
        Self { burst, ..self }
    }

    /// How many requests may go at once.
    #[must_use]
    pub fn burst(self) -> NonZeroU32 {
        self.burst
    }

    /// How long it takes for one more request to be allowed.
    #[must_use]
    pub fn interval(self) -> Duration {
        self.interval
    }

    /// `n` per `per`, with a burst of `n`.
    fn spread(per: Duration, n: NonZeroU32) -> Self {
        Self {
            interval: nanos(per.as_nanos() / u128::from(n.get())),
            burst: n,
        }
    }

    /// The same quota for governor.
    pub(crate) fn to_governor(self) -> governor::Quota {
        // `interval` is never zero, so governor always has a quota; the fallback is its
        // slowest one rather than a panic.
        governor::Quota::with_period(self.interval)
            .unwrap_or_else(|| governor::Quota::per_hour(NonZeroU32::MIN))
            .allow_burst(self.burst)
    }
}

/// `n` nanoseconds, at least one and at most `u64::MAX`.
fn nanos(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governor_gets_the_same_quota() {
        let q = Quota::window(300, Duration::from_secs(300)).expect("valid");
        let g = q.to_governor();
        assert_eq!(
            (g.burst_size(), g.replenish_interval()),
            (q.burst(), q.interval())
        );
        let n = NonZeroU32::new(7).expect("not zero");
        let g = Quota::per_second(n).to_governor();
        let reference = governor::Quota::per_second(n);
        assert_eq!(
            (g.burst_size(), g.replenish_interval()),
            (reference.burst_size(), reference.replenish_interval())
        );
    }

    #[test]
    fn the_interval_is_never_zero() {
        let q = Quota::per_second(NonZeroU32::MAX);
        assert_eq!(q.interval(), Duration::from_nanos(1));
        assert_eq!(Quota::with_period(Duration::ZERO), None);
    }
}
