//! The retry budget: how long a key may keep retrying 429s before the [`Pacer`](crate::Pacer)
//! gives up, and the run of 429s it charges.

use std::time::{Duration, SystemTime};

use mastodon_auth_core::RateLimitError;

/// How much retrying a [`Pacer`](crate::Pacer) allows one key in a run of 429 answers: at most
/// `retries` resends and `wait` of waiting in all. When the next retry would pass either
/// bound, the response becomes [`RateLimitError::RetryBudgetSpent`] instead of a wait.
///
/// Mastodon.py's `wait` method retries without end (`Mastodon.__api_request`), so a server
/// that answers 429 to everything, or a reset in the year 9999, would keep a client sleeping
/// 5 minutes at a time forever; the budget bounds that.
///
/// The run is counted per key (per access token) and ends with the first answer that is not
/// a 429. Tasks sharing a key share its run: a 429 that arrives while the key is already
/// waiting out an earlier one joins that wait and does not count as another retry.
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_ratelimit::{Pacer, RateLimitMethod, RetryBudget};
/// assert_eq!(RetryBudget::default().retries(), 5);
/// assert_eq!(RetryBudget::default().wait(), Duration::from_secs(15 * 60));
/// // A command-line tool would rather fail soon than wait for minutes.
/// let pacer = Pacer::new(RateLimitMethod::Wait)
///     .retry_budget(RetryBudget::new(2, Duration::from_secs(30)));
/// assert_eq!(pacer.current_retry_budget().retries(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    retries: u32,
    wait: Duration,
}

impl RetryBudget {
    /// 5 retries and 15 minutes of waiting: enough for the longest wait Mastodon.py makes
    /// (5 minutes) to happen three times.
    pub const DEFAULT: Self = Self::new(5, Duration::from_secs(15 * 60));

    /// No bound at all, as Mastodon.py: a 429 storm is retried for as long as it lasts.
    pub const UNLIMITED: Self = Self::new(u32::MAX, Duration::MAX);

    /// At most `retries` resends and `wait` of waiting in one run of 429s. With 0 retries
    /// every 429 is an error at once.
    #[must_use]
    pub const fn new(retries: u32, wait: Duration) -> Self {
        Self { retries, wait }
    }

    /// The number of retries allowed in one run of 429s.
    #[must_use]
    pub const fn retries(&self) -> u32 {
        self.retries
    }

    /// The total waiting allowed in one run of 429s.
    #[must_use]
    pub const fn wait(&self) -> Duration {
        self.wait
    }

    /// Charges a 429 answered at `now`, whose wait is `delay`, to the key's `run`. Returns the
    /// number of the retry this wait leads to (1 for the first), or the error when the budget
    /// cannot pay for it.
    pub(crate) fn charge(
        &self,
        run: &mut Option<Run>,
        now: SystemTime,
        delay: Duration,
    ) -> Result<u32, RateLimitError> {
        let run = run.get_or_insert(Run {
            started: now,
            retries: 0,
            until: now,
        });
        let spent = || RateLimitError::RetryBudgetSpent {
            retries: run.retries,
            waited: now.duration_since(run.started).unwrap_or_default(),
        };
        // A 429 to a request sent before the key's current wait ends belongs to that round.
        let joins = now < run.until;
        if !joins && run.retries >= self.retries {
            return Err(spent());
        }
        let wake = now.checked_add(delay).unwrap_or(now);
        if wake.duration_since(run.started).unwrap_or_default() > self.wait {
            return Err(spent());
        }
        if !joins {
            run.retries += 1;
        }
        run.until = run.until.max(wake);
        Ok(run.retries)
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One key's current run of 429 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// When the first 429 of the run arrived.
    started: SystemTime,
    /// The retries made so far.
    retries: u32,
    /// When the latest wait of the run ends.
    until: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retries_are_counted_until_the_limit() {
        let budget = RetryBudget::new(2, Duration::from_secs(100));
        let mut run = None;
        let d = Duration::from_secs(10);
        assert_eq!(budget.charge(&mut run, at(0), d), Ok(1));
        assert_eq!(budget.charge(&mut run, at(10), d), Ok(2));
        assert_eq!(
            budget.charge(&mut run, at(20), d),
            Err(RateLimitError::RetryBudgetSpent {
                retries: 2,
                waited: Duration::from_secs(20)
            })
        );
    }

    #[test]
    fn a_wait_that_would_pass_the_time_limit_is_refused_before_it_starts() {
        let budget = RetryBudget::new(10, Duration::from_secs(25));
        let mut run = None;
        let d = Duration::from_secs(10);
        assert_eq!(budget.charge(&mut run, at(0), d), Ok(1));
        assert_eq!(budget.charge(&mut run, at(10), d), Ok(2));
        assert!(budget.charge(&mut run, at(20), d).is_err());
    }

    #[test]
    fn a_429_during_the_current_wait_joins_it() {
        let budget = RetryBudget::new(1, Duration::from_secs(100));
        let mut run = None;
        let d = Duration::from_secs(10);
        assert_eq!(budget.charge(&mut run, at(0), d), Ok(1));
        // Another task's request, sent before the wait ended, was refused too.
        assert_eq!(
            budget.charge(&mut run, at(3), Duration::from_secs(7)),
            Ok(1)
        );
        assert!(budget.charge(&mut run, at(10), d).is_err());
    }

    #[test]
    fn zero_retries_refuse_the_first_429() {
        let mut run = None;
        assert!(
            RetryBudget::new(0, Duration::MAX)
                .charge(&mut run, at(0), Duration::from_secs(1))
                .is_err()
        );
        assert!(
            RetryBudget::UNLIMITED
                .charge(&mut None, at(0), Duration::MAX)
                .is_ok()
        );
    }
}
