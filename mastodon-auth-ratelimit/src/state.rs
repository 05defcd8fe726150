//! Mastodon.py's rate-limit state machine (the `ratelimit_*` attributes that
//! `Mastodon.__api_request` keeps and acts on), one instance per key. Pure: the caller passes
//! the time in and does the sleeping.

use std::time::{Duration, SystemTime};

use mastodon_auth_core::{RateLimitError, RateLimitInfo};

/// Backoff after a 429 without a usable reset, doubled each time.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_secs(2);
/// The longest the backoff grows and the longest any single sleep lasts (Mastodon.py's 5 min).
pub(crate) const MAX_SLEEP: Duration = Duration::from_secs(300);

/// A read-only view of one key's rate-limit state (Mastodon.py's `ratelimit_*` attributes).
///
/// ```
/// use std::time::Duration;
/// use mastodon_auth_core::RateLimitKey;
/// use mastodon_auth_ratelimit::{FakeClock, Pacer, PacerState, RateLimitMethod};
/// let pacer = Pacer::with_clock(RateLimitMethod::Wait, FakeClock::at_unix_secs(1000));
/// // A key that has never been used has Mastodon.py's initial state.
/// assert_eq!(pacer.snapshot(RateLimitKey::ANONYMOUS), None);
/// let initial = PacerState::INITIAL;
/// assert_eq!((initial.limit, initial.remaining, initial.reset), (300, 300, None));
/// assert_eq!(initial.backoff, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PacerState {
    /// The server's `X-RateLimit-Limit` (300 until a response says otherwise).
    pub limit: u64,
    /// Requests left in the window, from `X-RateLimit-Remaining` (300 initially). In pace mode
    /// each paced request also takes one off until its response says how many are left.
    pub remaining: u64,
    /// When the window resets, on the local clock; `None` when unknown or already past.
    pub reset: Option<SystemTime>,
    /// When the last response with an `X-RateLimit-Remaining` header arrived (in pace mode, or
    /// the planned send time of the latest paced request if that is later).
    pub lastcall: Option<SystemTime>,
    /// The next wait-mode backoff after a 429 without a usable reset.
    pub backoff: Duration,
    /// Whether the server has given a usable reset at least once. Then a reset that has since
    /// passed means a new window, and pace mode sends instead of refusing (Mastodon.py refuses,
    /// which fails every paced client that was idle for a window).
    pub had_usable_reset: bool,
}

impl PacerState {
    /// The state before any response (Mastodon.py 2.3: limit and remaining 300, no reset, no
    /// last call, backoff 2 s).
    pub const INITIAL: Self = Self {
        limit: 300,
        remaining: 300,
        reset: None,
        lastcall: None,
        backoff: INITIAL_BACKOFF,
        had_usable_reset: false,
    };

    fn usable_reset(&self, now: SystemTime) -> Option<SystemTime> {
        self.reset.filter(|r| *r > now)
    }

    /// Folds one response's headers (`None` when it had none, or when bad headers are
    /// ignored) into the state.
    pub(crate) fn apply_response(
        &mut self,
        info: Option<&RateLimitInfo>,
        ok: bool,
        now: SystemTime,
    ) {
        let mut had_reset = false;
        if let Some(info) = info {
            if let Some(remaining) = info.remaining {
                self.remaining = remaining;
                self.lastcall = Some(now);
            }
            if let Some(limit) = info.limit {
                self.limit = limit;
            }
            if info.reset.is_some() {
                had_reset = true;
                // A reset that overflows when corrected for skew is as unusable as a past one.
                match info.reset_local(now).filter(|r| *r > now) {
                    Some(reset) => {
                        self.reset = Some(reset);
                        self.backoff = INITIAL_BACKOFF;
                        self.had_usable_reset = true;
                    }
                    None => self.reset = None,
                }
            }
        }
        if !had_reset && self.reset.is_some_and(|r| r <= now) {
            self.reset = None;
        }
        if ok {
            self.backoff = INITIAL_BACKOFF;
        }
    }

    /// Before sending, pace mode refuses to send once it has seen a response but the server never
    /// gave a usable reset. A reset that has passed since is a new window: send.
    pub(crate) fn pace_check(&self, now: SystemTime) -> Result<(), RateLimitError> {
        if self.lastcall.is_some() && self.usable_reset(now).is_none() && !self.had_usable_reset {
            return Err(RateLimitError::NoUsableReset);
        }
        Ok(())
    }

    /// Before sending in pace mode: how long to wait, and reserves the slot so that
    /// concurrent tasks on the same key are spread out rather than sent together.
    pub(crate) fn pace_delay(&mut self, now: SystemTime, pacefactor: f64) -> Duration {
        let Some(lastcall) = self.lastcall else {
            return Duration::ZERO;
        };
        // The reset may have passed while the quota made us wait: send at once then.
        let Some(reset) = self.usable_reset(now) else {
            return Duration::ZERO;
        };
        let to_reset = secs_between(reset, now);
        let delay = if self.remaining == 0 {
            capped(to_reset)
        } else {
            // u64 → f64 loses precision only above 2^53 remaining requests.
            #[allow(clippy::cast_precision_loss)]
            let even = to_reset / self.remaining as f64;
            capped((even - secs_between(now, lastcall)) / pacefactor)
        };
        let send_at = now.checked_add(delay).unwrap_or(now);
        self.lastcall = Some(lastcall.max(send_at));
        self.remaining = self.remaining.saturating_sub(1);
        delay
    }

    /// A 429 in `throw` mode.
    pub(crate) fn hit(&self, now: SystemTime) -> RateLimitError {
        RateLimitError::hit(self.usable_reset(now), now)
    }

    /// A 429 in `pace` mode: sleep until the reset, or fail without one.
    pub(crate) fn pace_429(&self, now: SystemTime) -> Result<Duration, RateLimitError> {
        let reset = self
            .usable_reset(now)
            .ok_or(RateLimitError::NoUsableReset)?;
        Ok(capped(secs_between(reset, now)))
    }

    /// A 429 in `wait` mode: sleep until the reset, inventing one from the backoff if needed.
    pub(crate) fn wait_429(&mut self, now: SystemTime) -> Duration {
        let reset = if let Some(reset) = self.usable_reset(now) {
            reset
        } else {
            let reset = now.checked_add(self.backoff).unwrap_or(now);
            self.reset = Some(reset);
            self.backoff = (self.backoff * 2).min(MAX_SLEEP);
            reset
        };
        capped(secs_between(reset, now))
    }

    /// Nothing here would change behaviour if it were forgotten and started afresh.
    pub(crate) fn is_idle(&self, now: SystemTime) -> bool {
        self.usable_reset(now).is_none() && self.backoff == INITIAL_BACKOFF
    }
}

/// `a − b` in seconds, negative when `a` is earlier.
fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// A sleep of `secs`, at most [`MAX_SLEEP`]; zero for negative or NaN.
fn capped(secs: f64) -> Duration {
    if secs > 0.0 {
        Duration::try_from_secs_f64(secs)
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP)
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    }

    fn info(remaining: Option<u64>, reset: Option<f64>) -> RateLimitInfo {
        let mut i = RateLimitInfo::default();
        i.remaining = remaining;
        i.reset = reset.map(at);
        i
    }

    #[test]
    fn capped_sleeps_are_never_negative_nan_or_over_five_minutes() {
        assert_eq!(capped(-1.0), Duration::ZERO);
        assert_eq!(capped(f64::NAN), Duration::ZERO);
        assert_eq!(capped(f64::INFINITY), MAX_SLEEP);
        assert_eq!(capped(1e30), MAX_SLEEP);
        assert_eq!(capped(1.5), Duration::from_millis(1500));
    }

    #[test]
    fn remaining_header_sets_lastcall_and_reset_in_the_past_is_dropped() {
        let mut s = PacerState::INITIAL;
        s.apply_response(Some(&info(Some(7), Some(990.0))), true, at(1000.0));
        assert_eq!(s.remaining, 7);
        assert_eq!(s.lastcall, Some(at(1000.0)));
        assert_eq!(s.reset, None);
    }

    #[test]
    fn stored_reset_is_dropped_once_passed_when_no_reset_header_comes() {
        let mut s = PacerState::INITIAL;
        s.apply_response(Some(&info(None, Some(1010.0))), true, at(1000.0));
        assert_eq!(s.reset, Some(at(1010.0)));
        s.apply_response(None, true, at(1005.0));
        assert_eq!(s.reset, Some(at(1010.0)));
        s.apply_response(None, true, at(1010.0));
        assert_eq!(s.reset, None);
    }

    #[test]
    fn zero_remaining_sleeps_until_reset_without_the_pace_factor() {
        let mut s = PacerState::INITIAL;
        s.apply_response(Some(&info(Some(0), Some(1030.0))), true, at(1000.0));
        assert_eq!(s.pace_delay(at(1000.0), 1.1), Duration::from_secs(30));
    }

    #[test]
    fn error_responses_keep_the_backoff() {
        let mut s = PacerState::INITIAL;
        s.wait_429(at(1000.0));
        assert_eq!(s.backoff, Duration::from_secs(4));
        s.apply_response(None, false, at(1003.0));
        assert_eq!(s.backoff, Duration::from_secs(4));
        s.apply_response(None, true, at(1003.0));
        assert_eq!(s.backoff, INITIAL_BACKOFF);
    }
}
