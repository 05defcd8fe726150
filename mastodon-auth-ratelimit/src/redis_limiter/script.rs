//! The Lua step (`step.lua`) and the typed values that go in and come out of it.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant, SystemTime};

use mastodon_auth_core::RateLimitInfo;
use redis::aio::ConnectionManager;

use crate::{Quota, RateLimitMethod};

/// Which step of a request the script takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Before sending `slots` requests: a quota slot each, and in pace mode the pace delay;
    /// up to `ahead` more slots for requests expected before the next call.
    Send { slots: NonZeroUsize, ahead: u32 },
    /// After a 429: how long to wait before resending, or an error.
    TooMany,
}

/// What one response said about the rate limit, kept until it can travel to Redis.
#[derive(Debug, Clone, Copy)]
pub(super) struct Observation {
    at: Instant,
    ok: bool,
    remaining: Option<u64>,
    limit: Option<u64>,
    /// The reset as seen from the response: `X-RateLimit-Reset` minus the server's `Date`
    /// (or minus the local time without one), so no two clocks are ever compared.
    reset_in_micros: Option<i64>,
}

impl Observation {
    pub(super) fn new(status: http::StatusCode, info: Option<&RateLimitInfo>) -> Self {
        let reset_in_micros = info.and_then(|i| {
            let reset = i.reset?;
            let from = i.server_date.unwrap_or_else(SystemTime::now);
            Some(match reset.duration_since(from) {
                Ok(ahead) => micros(ahead),
                Err(behind) => -micros(behind.duration()),
            })
        });
        Self {
            at: Instant::now(),
            ok: status.as_u16() < 400,
            remaining: info.and_then(|i| i.remaining),
            limit: info.and_then(|i| i.limit),
            reset_in_micros,
        }
    }

    /// Whether the server said its window is half spent or more: the script takes no slots
    /// ahead then, and those already taken should not be used before Redis has heard it.
    pub(super) fn is_tight(&self) -> bool {
        self.remaining
            .is_some_and(|r| r == 0 || self.limit.is_some_and(|l| r.saturating_mul(2) <= l))
    }
}

/// A duration in whole microseconds, saturating.
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The answer to a [`StepScript::send`].
#[derive(Debug)]
pub(super) struct Taken {
    /// Each request's, in order.
    pub(super) replies: Vec<Reply>,
    /// Slots taken ahead, each usable at once.
    pub(super) ahead: u32,
}

/// The script's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reply {
    /// Send (or resend) after this wait.
    Go(Duration),
    /// Throw mode: the quota is used up for this long.
    QuotaExhausted(Duration),
    /// Pace mode: the server never gave a usable reset.
    NoUsableReset,
    /// Throw mode: the server has nothing left; it resets after this long, if known.
    Hit(Option<Duration>),
}

impl Reply {
    /// The script's flat `[verdict, micros, verdict, micros, …]`.
    fn decode_all(flat: &[i64]) -> Result<Vec<Self>, redis::RedisError> {
        flat.chunks(2)
            .map(|pair| match *pair {
                [verdict, micros] => Self::decode(verdict, micros),
                _ => Err(unexpected("a verdict without its wait", "")),
            })
            .collect()
    }

    fn decode(verdict: i64, micros: i64) -> Result<Self, redis::RedisError> {
        let wait = Duration::from_micros(u64::try_from(micros).unwrap_or(0));
        match verdict {
            0 => Ok(Self::Go(wait)),
            1 => Ok(Self::QuotaExhausted(wait)),
            2 => Ok(Self::NoUsableReset),
            3 => Ok(Self::Hit((micros >= 0).then_some(wait))),
            other => Err(unexpected("an unknown verdict", &other.to_string())),
        }
    }
}

/// The script answered something this limiter does not understand.
fn unexpected(what: &'static str, detail: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        what,
        format!("from the rate-limit script {detail}"),
    ))
}

/// The loaded script and the settings every call passes to it.
pub(super) struct StepScript {
    script: redis::Script,
    method: &'static str,
    interval_micros: u64,
    burst: u32,
    pacefactor: f64,
    idle_ttl_millis: u64,
}

impl StepScript {
    pub(super) fn new(
        method: RateLimitMethod,
        pacefactor: f64,
        quota: Option<Quota>,
        idle_ttl: Duration,
    ) -> Self {
        let method = match method {
            RateLimitMethod::Throw => "throw",
            RateLimitMethod::Pace { .. } => "pace",
            _ => "wait",
        };
        Self {
            script: redis::Script::new(include_str!("step.lua")),
            method,
            interval_micros: quota.map_or(0, |q| {
                // At least 1 µs: 0 would mean "no quota" to the script.
                u64::try_from(q.interval().as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1)
            }),
            burst: quota.map_or(1, |q| q.burst().get()),
            pacefactor,
            idle_ttl_millis: u64::try_from(idle_ttl.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Takes `slots` requests' slots on `redis_key` (taking along the latest response not yet
    /// folded in), and up to `ahead` more while the budget is far from its end. Returns each
    /// request's reply, in order, and how many slots were taken ahead.
    pub(super) async fn send(
        &self,
        connection: &mut ConnectionManager,
        redis_key: &str,
        slots: NonZeroUsize,
        ahead: u32,
        observation: Option<&Observation>,
    ) -> Result<Taken, redis::RedisError> {
        let flat = self
            .invoke(
                connection,
                redis_key,
                Step::Send { slots, ahead },
                observation,
            )
            .await?;
        match flat.split_last() {
            Some((&ahead, pairs)) if pairs.len() == 2 * slots.get() => Ok(Taken {
                replies: Reply::decode_all(pairs)?,
                ahead: u32::try_from(ahead)
                    .map_err(|_| unexpected("a negative count of slots ahead", ""))?,
            }),
            _ => Err(unexpected(
                "the wrong number of replies",
                &format!("({} numbers for {slots} requests)", flat.len()),
            )),
        }
    }

    /// Folds in a 429 response and returns whether and when to resend.
    pub(super) async fn too_many(
        &self,
        connection: &mut ConnectionManager,
        redis_key: &str,
        observation: &Observation,
    ) -> Result<Reply, redis::RedisError> {
        match self
            .invoke(connection, redis_key, Step::TooMany, Some(observation))
            .await?[..]
        {
            [verdict, micros] => Reply::decode(verdict, micros),
            ref other => Err(unexpected(
                "the wrong number of replies",
                &format!("({} numbers for a 429)", other.len()),
            )),
        }
    }

    /// Runs the script once: one round trip (two when Redis has lost the script, after a
    /// restart: the `redis` crate loads it again and retries).
    async fn invoke(
        &self,
        connection: &mut ConnectionManager,
        redis_key: &str,
        step: Step,
        observation: Option<&Observation>,
    ) -> Result<Vec<i64>, redis::RedisError> {
        let mut call = self.script.key(redis_key);
        let (name, slots, ahead) = match step {
            Step::Send { slots, ahead } => ("send", slots.get(), ahead),
            Step::TooMany => ("429", 1, 0),
        };
        call.arg(name)
            .arg(slots)
            .arg(self.method)
            .arg(self.interval_micros)
            .arg(self.burst)
            .arg(self.pacefactor);
        let text = |v: Option<String>| v.unwrap_or_default();
        match observation {
            Some(o) => call
                .arg(micros(o.at.elapsed()))
                .arg(if o.ok { "1" } else { "0" })
                .arg(text(o.remaining.map(|v| v.to_string())))
                .arg(text(o.limit.map(|v| v.to_string())))
                .arg(text(o.reset_in_micros.map(|v| v.to_string()))),
            None => call.arg("").arg("").arg("").arg("").arg(""),
        };
        call.arg(self.idle_ttl_millis).arg(ahead);
        call.invoke_async(connection).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_reset_is_taken_from_the_servers_date_not_the_local_clock() {
        let mut info = RateLimitInfo::default();
        info.remaining = Some(7);
        info.reset = Some(at(1_030));
        info.server_date = Some(at(1_000));
        let o = Observation::new(http::StatusCode::OK, Some(&info));
        assert_eq!(o.reset_in_micros, Some(30_000_000));
        assert_eq!((o.ok, o.remaining, o.limit), (true, Some(7), None));
        // A reset already past on the server's clock stays negative: unusable everywhere.
        info.server_date = Some(at(1_031));
        let late = Observation::new(http::StatusCode::TOO_MANY_REQUESTS, Some(&info));
        assert_eq!(late.reset_in_micros, Some(-1_000_000));
        assert!(!late.ok);
        let none = Observation::new(http::StatusCode::OK, None);
        assert_eq!((none.remaining, none.reset_in_micros), (None, None));
    }

    #[test]
    fn a_window_half_spent_or_empty_is_tight() {
        let seen = |remaining: Option<u64>, limit: Option<u64>| {
            let mut info = RateLimitInfo::default();
            info.remaining = remaining;
            info.limit = limit;
            Observation::new(http::StatusCode::OK, Some(&info)).is_tight()
        };
        assert!(!seen(Some(151), Some(300)));
        assert!(seen(Some(150), Some(300)));
        assert!(seen(Some(0), None));
        assert!(!seen(Some(5), None), "no limit, no half");
        assert!(!seen(None, Some(300)));
    }

    #[test]
    fn replies_decode_in_order_and_unknown_verdicts_are_errors() {
        assert_eq!(
            Reply::decode_all(&[0, 1500, 1, 20, 2, 0, 3, -1, 3, 5]).unwrap(),
            [
                Reply::Go(Duration::from_micros(1500)),
                Reply::QuotaExhausted(Duration::from_micros(20)),
                Reply::NoUsableReset,
                Reply::Hit(None),
                Reply::Hit(Some(Duration::from_micros(5))),
            ]
        );
        assert!(Reply::decode_all(&[0, 10, 9, 0]).is_err());
        assert!(
            Reply::decode_all(&[0, 10, 0]).is_err(),
            "a verdict without its wait"
        );
    }
}
