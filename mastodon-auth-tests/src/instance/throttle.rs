//! rack-attack's fixed-window throttles and the `X-RateLimit-*` headers they produce.

use std::time::Duration;

use super::clock;
use super::state::{State, Throttle};
use crate::server::reply::Reply;

/// One throttle a request matched, after counting the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub(crate) limit: u32,
    pub(crate) count: u32,
    pub(crate) period: Duration,
}

impl Hit {
    pub(crate) fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.count)
    }

    pub(crate) fn exceeded(&self) -> bool {
        self.count > self.limit
    }
}

/// Counts the request against `key` under `throttle`.
pub(crate) fn count(state: &mut State, now: Duration, key: String, throttle: Throttle) -> Hit {
    let period = throttle.period.as_secs().max(1);
    let window = now.as_secs() / period;
    let entry = state.throttles.entry(key).or_insert((window, 0));
    if entry.0 != window {
        *entry = (window, 0);
    }
    entry.1 = entry.1.saturating_add(1);
    Hit {
        limit: throttle.limit,
        count: entry.1,
        period: Duration::from_secs(period),
    }
}

/// `now` moved to the end of its window, keeping the sub-second part, as
/// `now + (period - now.to_i % period)` does in Ruby.
pub(crate) fn reset_time(now: Duration, period: Duration) -> Duration {
    let p = period.as_secs().max(1);
    now + Duration::from_secs(p - now.as_secs() % p)
}

/// `X-RateLimit-Reset`: ISO 8601 with microseconds and `Z`, or (GoToSocial) epoch seconds.
pub(crate) fn reset_header(now: Duration, period: Duration, epoch_seconds: bool) -> String {
    format_reset(reset_time(now, period), epoch_seconds)
}

/// A reset time (since the epoch) as the header's value.
fn format_reset(reset: Duration, epoch_seconds: bool) -> String {
    if epoch_seconds {
        reset.as_secs().to_string()
    } else {
        clock::iso8601_micros(reset)
    }
}

/// Adds the three headers for `hit`.
pub(crate) fn apply(reply: &mut Reply, hit: &Hit, now: Duration, epoch_seconds: bool) {
    reply.set("x-ratelimit-limit", hit.limit.to_string());
    reply.set("x-ratelimit-remaining", hit.remaining().to_string());
    reply.set(
        "x-ratelimit-reset",
        reset_header(now, hit.period, epoch_seconds),
    );
}

/// rack-attack's `throttled_responder`: 429, Remaining 0, no `Retry-After`.
pub(crate) fn too_many(limit: u32, reset: Duration, epoch_seconds: bool) -> Reply {
    let mut r = Reply::new(429, "application/json", r#"{"error":"Too many requests"}"#);
    r.set("x-ratelimit-limit", limit.to_string());
    r.set("x-ratelimit-remaining", "0");
    r.set("x-ratelimit-reset", format_reset(reset, epoch_seconds));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_is_aligned_and_keeps_microseconds() {
        let now = Duration::from_secs(1_792_004_634) + Duration::from_micros(486_515);
        let reset = reset_time(now, Duration::from_secs(300));
        assert_eq!(reset.as_secs() % 300, 0);
        assert_eq!(reset.subsec_micros(), 486_515);
        assert_eq!(
            reset_header(now, Duration::from_secs(600), false),
            "2026-10-14T19:10:00.486515Z"
        );
        assert_eq!(
            reset_header(now, Duration::from_secs(600), true),
            "1792005000"
        );
    }

    #[test]
    fn counting_restarts_in_a_new_window() {
        let mut st = State::default();
        let t = Throttle {
            limit: 2,
            period: Duration::from_secs(10),
        };
        let now = Duration::from_secs(100);
        assert_eq!(count(&mut st, now, "k".into(), t).remaining(), 1);
        assert_eq!(count(&mut st, now, "k".into(), t).remaining(), 0);
        assert!(count(&mut st, now, "k".into(), t).exceeded());
        assert_eq!(
            count(&mut st, now + Duration::from_secs(10), "k".into(), t).count,
            1
        );
    }
}
