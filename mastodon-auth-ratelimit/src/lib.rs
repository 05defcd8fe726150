//! # mastodon-auth-ratelimit
//!
//! The [`Pacer`]: a [`RateLimiter`](mastodon_auth_core::RateLimiter) for `mastodon-auth-core`
//! that keeps a client within a Mastodon server's rate limits.
//!
//! - A client-side [governor](https://docs.rs/governor) quota per access token (default: 300
//!   requests per 5 minutes, Mastodon's default), so pacing starts with the first request and
//!   many tasks sharing one client never overshoot together.
//! - Mastodon.py's rate-limit state machine, driven by the `X-RateLimit-*` headers of each
//!   response, with its three methods: `wait` (sleep on a 429 and resend), `throw` (a 429 is an
//!   error) and `pace` (spread requests over the window so that 429s do not happen).
//! - A [`RetryBudget`] (by default 5 retries and 15 minutes of waiting per run of 429s), so a
//!   server that answers 429 to everything ends in an error instead of endless waits, and an
//!   observer of long waits ([`Pacer::on_wait`]) so a program can say what it waits for.
//! - With the feature `redis`, `RedisRateLimiter`: the same budget and state machine shared by
//!   every process of a fleet through Redis (an atomic Lua step per request).
//! - An injectable [`Clock`]: [`TokioClock`] for real use, [`FakeClock`] to test every timing
//!   decision without sleeping.
//!
//! ```
//! use std::time::Duration;
//! use mastodon_auth_core::{RateLimitKey, RateLimiter};
//! use mastodon_auth_ratelimit::{FakeClock, Pacer, RateLimitMethod};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = FakeClock::at_unix_secs(1000);
//! // At most 3 requests in any 10 s.
//! let pacer = Pacer::with_clock(RateLimitMethod::Wait, clock.clone())
//!     .quota(3, Duration::from_secs(10))?;
//! for _ in 0..4 {
//!     pacer.before_request(RateLimitKey::ANONYMOUS).await?;
//! }
//! // The fourth request had to wait for the window to move on.
//! assert!(clock.total_slept() > Duration::ZERO);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]

mod budget;
mod clock;
mod method;
mod pacer;
mod quota;
#[cfg(feature = "redis")]
mod redis_limiter;
mod state;
mod wait;

pub use budget::RetryBudget;
pub use clock::{Clock, FakeClock, TokioClock};
pub use method::RateLimitMethod;
pub use pacer::Pacer;
pub use quota::Quota;
#[cfg(feature = "redis")]
pub use redis_limiter::{
    DEFAULT_KEY_PREFIX, RedisRateLimiter, RedisRateLimiterBuilder, Unreachable,
};
pub use state::PacerState;
pub use wait::WaitReason;
