//! Time sources: the real one and a manual one for tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::nanos::Nanos;

/// Where a [`Pacer`](crate::Pacer) gets the time and how it sleeps.
///
/// Every timing decision of the pacer goes through this trait, so a [`FakeClock`] makes all of
/// them testable without sleeping.
///
/// `now` is the wall clock, because `X-RateLimit-Reset` and `Date` are wall-clock times.
/// `monotonic` drives the client-side quota, which must not jump when the wall clock is set.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use mastodon_auth_ratelimit::Clock;
///
/// /// A clock that never sleeps (for a batch job that would rather fail than wait).
/// struct Impatient;
///
/// impl Clock for Impatient {
///     fn now(&self) -> SystemTime {
///         SystemTime::now()
///     }
///     async fn sleep(&self, _duration: Duration) {}
/// }
/// # let _ = Impatient.now();
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// A reading that never goes backwards, measured from any fixed origin. The default derives
    /// it from [`now`](Clock::now), which is right for clocks that only move forward.
    fn monotonic(&self) -> Duration {
        self.now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// The real clock: [`SystemTime::now`] for header arithmetic, [`tokio::time::Instant`] for the
/// quota and [`tokio::time::sleep`] for waiting (so it needs a Tokio runtime with the time
/// driver when it sleeps).
///
/// ```
/// use mastodon_auth_ratelimit::{Clock, TokioClock};
/// let clock = TokioClock::new();
/// let a = clock.monotonic();
/// assert!(clock.monotonic() >= a);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose monotonic readings start now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// A manual clock for tests: time stands still until [`advance`](FakeClock::advance) or
/// [`set`](FakeClock::set) moves it, and [`sleep`](Clock::sleep) returns at once after moving
/// the time to the sleeper's wake-up time and recording the duration.
///
/// Clones share the same time and the same record. A sleep starts when `sleep` is called and,
/// when first polled, moves the clock to its wake-up time unless the clock is already past it:
/// sleeps created together overlap (the clock ends at the latest wake-up, not at the sum).
/// Each sleep yields to the executor once, so other tasks get to run.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use mastodon_auth_ratelimit::{Clock, FakeClock};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = FakeClock::at_unix_secs(1000);
/// clock.sleep(Duration::from_secs(10)).await;
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1010));
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(10)]);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct FakeClock {
    inner: Arc<Mutex<FakeState>>,
}

#[derive(Debug)]
struct FakeState {
    now: SystemTime,
    sleeps: Vec<Duration>,
}

impl FakeClock {
    /// A clock that reads `start` until moved.
    #[must_use]
    pub fn new(start: SystemTime) -> Self {
        Self {
            inner: Arc::new(Mutex::new(FakeState {
                now: start,
                sleeps: Vec::new(),
            })),
        }
    }

    /// A clock at `secs` seconds after the Unix epoch (Mastodon.py's tests start at 1000).
    #[must_use]
    pub fn at_unix_secs(secs: u64) -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // Nothing panics while holding the lock, but a poisoned clock is still a usable clock.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the time forward by `by` (without recording a sleep).
    pub fn advance(&self, by: Duration) {
        let mut s = self.state();
        s.now = s.now.checked_add(by).unwrap_or(s.now);
    }

    /// Sets the time. Setting it backwards is allowed (to test skew), but the client-side quota
    /// then sees no time pass until the clock is past its old reading again.
    pub fn set(&self, to: SystemTime) {
        self.state().now = to;
    }

    /// Every sleep so far, in the order they started.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }

    /// Forgets the recorded sleeps.
    pub fn clear_sleeps(&self) {
        self.state().sleeps.clear();
    }

    /// The sum of all recorded sleeps.
    #[must_use]
    pub fn total_slept(&self) -> Duration {
        self.state().sleeps.iter().sum()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        self.state().now
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        // The sleep starts when it is called, as `tokio::time::sleep` does, so sleeps created
        // together overlap even though they are polled one after the other.
        let wake = {
            let mut s = self.state();
            s.sleeps.push(duration);
            s.now.checked_add(duration).unwrap_or(s.now)
        };
        let clock = self.clone();
        async move {
            {
                let mut s = clock.state();
                // Overlapping sleepers: the latest wake-up time wins, earlier ones have passed.
                if wake > s.now {
                    s.now = wake;
                }
            }
            YieldOnce(false).await;
        }
    }
}

/// Returns `Pending` once so that a sleeping task lets the others run, as a real sleep would.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Adapts any [`Clock`] to governor's clock traits, so a governor rate limiter runs on the
/// same (possibly fake) time as the pacer. Instants are [`Clock::monotonic`] readings.
/// Internal: governor's traits stay out of this crate's public API.
#[derive(Debug)]
pub(crate) struct GovernorClock<C> {
    clock: Arc<C>,
}

impl<C> GovernorClock<C> {
    /// Wraps `clock`.
    pub(crate) fn new(clock: Arc<C>) -> Self {
        Self { clock }
    }
}

impl<C> Clone for GovernorClock<C> {
    fn clone(&self) -> Self {
        Self {
            clock: Arc::clone(&self.clock),
        }
    }
}

impl<C: Clock> governor::clock::Clock for GovernorClock<C> {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::new(u64::try_from(self.clock.monotonic().as_nanos()).unwrap_or(u64::MAX))
    }
}

impl<C: Clock> governor::clock::ReasonablyRealtime for GovernorClock<C> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governor_reads_the_pacers_clock() {
        use governor::clock::Clock as _;
        let fake = FakeClock::at_unix_secs(1000);
        let clock = GovernorClock::new(Arc::new(fake.clone()));
        let before = clock.now();
        fake.advance(Duration::from_secs(1));
        assert_eq!(u64::from(clock.now()) - u64::from(before), 1_000_000_000);
    }

    #[tokio::test]
    async fn overlapping_fake_sleeps_advance_to_the_latest_wake_up_not_the_sum() {
        let clock = FakeClock::at_unix_secs(0);
        let (a, b) = (clock.clone(), clock.clone());
        tokio::join!(
            a.sleep(Duration::from_secs(3)),
            b.sleep(Duration::from_secs(5))
        );
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(5));
        assert_eq!(clock.total_slept(), Duration::from_secs(8));
    }

    #[tokio::test]
    async fn sequential_fake_sleeps_add_up() {
        let clock = FakeClock::at_unix_secs(0);
        clock.sleep(Duration::from_secs(3)).await;
        clock.sleep(Duration::from_secs(5)).await;
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(8));
        clock.clear_sleeps();
        assert!(clock.sleeps().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_sleeps_on_tokio_time() {
        let clock = TokioClock::new();
        clock.sleep(Duration::from_secs(7)).await;
        assert!(clock.monotonic() >= Duration::from_secs(7));
    }
}
