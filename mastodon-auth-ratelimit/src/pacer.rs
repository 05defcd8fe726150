//! The [`Pacer`]: a governor quota in front of Mastodon.py's header-driven state machine.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::NotUntil;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use mastodon_auth_core::{
    Error, HeaderError, RateLimitError, RateLimitInfo, RateLimitKey, RateLimiter, Verdict,
};

use crate::budget::{RetryBudget, Run};
use crate::clock::{Clock, GovernorClock, TokioClock};
use crate::state::PacerState;
use crate::wait::{WaitObserver, WaitReason};
use crate::{Quota, RateLimitMethod};

/// Everything kept per key: the header state, the current run of 429s and the quota's
/// theoretical arrival time.
#[derive(Debug, Clone, Copy)]
struct Entry {
    state: PacerState,
    /// The 429 answers since the last other answer, charged to the retry budget.
    run: Option<Run>,
    /// governor's GCRA state in nanoseconds since the limiter started; 0 = never used (a real
    /// one is always at least one replenish interval).
    tat: u64,
}

impl Entry {
    const FRESH: Self = Self {
        state: PacerState::INITIAL,
        run: None,
        tat: 0,
    };
}

type Map = HashMap<RateLimitKey, Entry>;

/// One map holds both the header state and governor's cell per key, so each key costs one
/// entry and can be forgotten as a whole.
#[derive(Clone, Default)]
struct Store(Arc<Mutex<Map>>);

impl Store {
    fn lock(&self) -> MutexGuard<'_, Map> {
        // Nothing panics while holding the lock; recover the map rather than propagate.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StateStore for Store {
    type Key = RateLimitKey;

    fn measure_and_replace<T, F, E>(&self, key: &RateLimitKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut map = self.lock();
        let entry = map.entry(*key).or_insert(Entry::FRESH);
        let old = (entry.tat != 0).then(|| Nanos::new(entry.tat));
        let (outcome, tat) = f(old)?;
        entry.tat = tat.as_u64();
        Ok(outcome)
    }
}

type Governor<C> =
    governor::RateLimiter<RateLimitKey, Store, GovernorClock<C>, NoOpMiddleware<Nanos>>;

struct QuotaLimiter<C: Clock> {
    quota: Quota,
    limiter: Governor<C>,
    /// A monotonic reading taken just after governor read its own start time, so that
    /// `origin + tat` is never earlier than the real theoretical arrival time.
    origin: Duration,
}

/// Paces requests per access token: Mastodon.py's `wait` / `throw` / `pace` state machine
/// (its `ratelimit_method`, carried out in `Mastodon.__api_request`) driven by the
/// `X-RateLimit-*` headers, behind a client-side [governor](https://docs.rs/governor) quota,
/// with a bound on retries that Mastodon.py does not have.
///
/// # The quota
///
/// By default each key may start at most 300 requests in any 5 minutes, Mastodon's default
/// limit, so a client paces from its first request instead of learning the limit from a 429,
/// and many tasks sharing one client never overshoot together. In `wait` and `pace` mode a
/// request over the quota waits for its turn; in `throw` mode it fails with
/// [`RateLimitError::QuotaExhausted`]. See [`Pacer::quota`], [`Pacer::with_quota`] and
/// [`Pacer::without_quota`].
///
/// # The header state machine
///
/// Per key, exactly as Mastodon.py 2.3 does per client object (see [`PacerState`] for the
/// fields):
///
/// - after every response the headers update the state: `X-RateLimit-Remaining` (and the time
///   of the response), `X-RateLimit-Limit`, `X-RateLimit-Reset` corrected for the difference
///   between the local clock and the server's `Date`. A reset that is not in the future is
///   unusable and dropped. A usable reset, or any status below 400, puts the backoff back to 2 s.
/// - `pace`: once a response has been seen, a request fails with
///   [`RateLimitError::NoUsableReset`] before it is sent if the server never gave a usable
///   reset (a reset that has passed since means a new window: the request goes out at once,
///   where Mastodon.py refuses); with nothing remaining it waits for
///   the reset; otherwise it waits `((reset − now) / remaining − (now − lastcall)) / pacefactor`.
///   On a 429 it waits for the reset and resends, or fails with `NoUsableReset`.
/// - `wait`: on a 429 it waits for the reset and resends; without a usable reset it waits 2 s,
///   then 4 s, doubling up to 5 min, and resends.
/// - `throw`: a 429 becomes [`RateLimitError::Hit`].
///
/// No single wait lasts more than 5 minutes.
///
/// # The retry budget
///
/// Where Mastodon.py resends a 429 without end, a pacer gives up once a run of 429s on one
/// key has used its [`RetryBudget`] (by default 5 retries and 15 minutes of waiting) and
/// returns [`RateLimitError::RetryBudgetSpent`]; a reset far in the future (`9999-12-31`)
/// therefore costs three 5-minute waits, not a sleep without end. See
/// [`Pacer::retry_budget`].
///
/// # Hearing about long waits
///
/// [`Pacer::on_wait`] sets an observer that is told, before the pacer sleeps, how long it will
/// wait and why ([`WaitReason`]), for waits of at least a given length, so an interactive
/// program can say so instead of appearing to hang.
///
/// **Headers that cannot be parsed** (Mastodon.py's `__api_request` fails even a successful
/// call on them): in `pace` mode they are an error ([`RateLimitError::BadHeader`]), because
/// pacing needs them; in `wait` and `throw` mode they are ignored: the state keeps its previous
/// values and the response is handled as if it had no rate-limit headers.
///
/// **Concurrency.** Mastodon.py is single-threaded. Here, each paced request reserves its slot
/// (the planned send time becomes `lastcall`, `remaining` drops by one) so that tasks pacing on
/// the same key are spread out instead of all sleeping the same time and sending together; the
/// next response's headers overwrite both, so a sequential client behaves exactly like
/// Mastodon.py.
///
/// # Contract with the client
///
/// Call [`before_request`](RateLimiter::before_request) once before sending a rate-limited
/// request and [`after_response`](RateLimiter::after_response) after each response. On
/// `Ok(Verdict::Retry)` the pacer has already waited (and taken a quota slot for the resend):
/// resend **without** calling `before_request` again, as Mastodon.py does not repeat the pre-send
/// pacing.
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use mastodon_auth_core::{RateLimitInfo, RateLimitKey, RateLimiter, Verdict};
/// use mastodon_auth_ratelimit::{FakeClock, Pacer, RateLimitMethod};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = FakeClock::at_unix_secs(1000);
/// let pacer = Pacer::with_clock(RateLimitMethod::Wait, clock.clone());
/// let key = RateLimitKey::ANONYMOUS;
///
/// pacer.before_request(key).await?;
/// // The server says 429 and that the window resets at 1010: wait 10 s, then resend.
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
/// headers.insert("x-ratelimit-reset", "1010".parse().unwrap());
/// let info = RateLimitInfo::from_headers(&headers);
/// let verdict = pacer.after_response(key, StatusCode::TOO_MANY_REQUESTS, info).await?;
/// assert_eq!(verdict, Verdict::Retry);
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(10)]);
/// # Ok::<(), mastodon_auth_core::RateLimitError>(())
/// # }).unwrap();
/// ```
pub struct Pacer<C: Clock = TokioClock> {
    method: RateLimitMethod,
    /// The pace factor, checked: `RateLimitMethod::Pace` can be built by hand with any value.
    pacefactor: f64,
    clock: Arc<C>,
    store: Store,
    quota: Option<QuotaLimiter<C>>,
    budget: RetryBudget,
    observer: Option<WaitObserver>,
}

/// Mastodon's default: 300 requests per 5 minutes per account.
pub(crate) const DEFAULT_REQUESTS: u32 = 300;
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

impl Pacer<TokioClock> {
    /// A pacer on the real clock with the default quota (300 requests per 5 minutes per key).
    ///
    /// ```
    /// use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};
    /// let pacer = Pacer::new(RateLimitMethod::pace(1.1)?);
    /// assert_eq!(pacer.method(), RateLimitMethod::Pace { pacefactor: 1.1 });
    /// # Ok::<(), mastodon_auth_core::Error>(())
    /// ```
    #[must_use]
    pub fn new(method: RateLimitMethod) -> Self {
        Self::with_clock(method, TokioClock::new())
    }
}

impl Default for Pacer<TokioClock> {
    /// Mastodon.py's default method, `wait`, with the default quota.
    fn default() -> Self {
        Self::new(RateLimitMethod::Wait)
    }
}

impl<C: Clock> Pacer<C> {
    /// A pacer on `clock` (a [`FakeClock`](crate::FakeClock) in tests) with the default quota.
    ///
    /// A `Pace` factor that is not a positive finite number (only possible by building the
    /// variant by hand: [`RateLimitMethod::pace`] refuses it) is replaced by 1.0, an even
    /// spread.
    #[must_use]
    pub fn with_clock(method: RateLimitMethod, clock: C) -> Self {
        let pacefactor = checked_pacefactor(method);
        let pacer = Self {
            method,
            pacefactor,
            clock: Arc::new(clock),
            store: Store::default(),
            quota: None,
            budget: RetryBudget::DEFAULT,
            observer: None,
        };
        match Quota::window(DEFAULT_REQUESTS, DEFAULT_WINDOW) {
            Ok(quota) => pacer.with_quota(quota),
            // Unreachable with the constants above; a pacer without quota is still correct.
            Err(_) => pacer,
        }
    }

    /// Uses `quota` as it is (GCRA: a burst of [`burst`](Quota::burst), then one request per
    /// [`interval`](Quota::interval)). Note that such a quota admits up to
    /// `burst − 1 + ⌈W / interval⌉` requests in a window of length `W`; use
    /// [`Pacer::quota`] for a hard "n per window" limit.
    ///
    /// Resets every key's quota allowance; meant for construction time.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use mastodon_auth_ratelimit::{Pacer, Quota, RateLimitMethod};
    /// let pacer = Pacer::new(RateLimitMethod::Wait)
    ///     .with_quota(Quota::per_second(NonZeroU32::new(5).unwrap()));
    /// assert_eq!(pacer.current_quota().map(|q| q.burst().get()), Some(5));
    /// ```
    #[must_use]
    pub fn with_quota(mut self, quota: Quota) -> Self {
        for entry in self.store.lock().values_mut() {
            entry.tat = 0;
        }
        let limiter = governor::RateLimiter::new(
            quota.to_governor(),
            self.store.clone(),
            GovernorClock::new(Arc::clone(&self.clock)),
        );
        let origin = self.clock.monotonic();
        self.quota = Some(QuotaLimiter {
            quota,
            limiter,
            origin,
        });
        self
    }

    /// Never starts more than `requests` requests per key in any span of `per` (see
    /// [`Quota::window`] for the quota this makes).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `requests` is 0 or `per` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};
    /// // Mastodon's media upload limit: 30 per 30 minutes.
    /// let pacer = Pacer::new(RateLimitMethod::Wait).quota(30, Duration::from_secs(1800))?;
    /// assert!(Pacer::new(RateLimitMethod::Wait).quota(0, Duration::from_secs(1)).is_err());
    /// # Ok::<(), mastodon_auth_core::Error>(())
    /// ```
    pub fn quota(self, requests: u32, per: Duration) -> Result<Self, Error> {
        Ok(self.with_quota(Quota::window(requests, per)?))
    }

    /// Turns the client-side quota off: only the server's headers pace requests.
    ///
    /// ```
    /// use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};
    /// assert!(Pacer::new(RateLimitMethod::Throw).without_quota().current_quota().is_none());
    /// ```
    #[must_use]
    pub fn without_quota(mut self) -> Self {
        self.quota = None;
        self
    }

    /// The client-side quota in use, if any.
    #[must_use]
    pub fn current_quota(&self) -> Option<Quota> {
        self.quota.as_ref().map(|q| q.quota)
    }

    /// Bounds the retries of one run of 429s (default [`RetryBudget::DEFAULT`]: 5 retries,
    /// 15 minutes of waiting); [`RetryBudget::UNLIMITED`] retries without end, as Mastodon.py.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mastodon_auth_core::{RateLimitError, RateLimitKey, RateLimiter};
    /// use mastodon_auth_ratelimit::{FakeClock, Pacer, RateLimitMethod, RetryBudget};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let pacer = Pacer::with_clock(RateLimitMethod::Wait, FakeClock::at_unix_secs(1000))
    ///     .retry_budget(RetryBudget::new(2, Duration::from_secs(60)));
    /// let key = RateLimitKey::ANONYMOUS;
    /// let too_many = http::StatusCode::TOO_MANY_REQUESTS;
    /// // No reset header: back off 2 s, then 4 s, then give up.
    /// pacer.after_response(key, too_many, Ok(None)).await?;
    /// pacer.after_response(key, too_many, Ok(None)).await?;
    /// let err = pacer.after_response(key, too_many, Ok(None)).await.unwrap_err();
    /// assert_eq!(
    ///     err,
    ///     RateLimitError::RetryBudgetSpent { retries: 2, waited: Duration::from_secs(6) }
    /// );
    /// # Ok::<(), RateLimitError>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The retry budget in use.
    #[must_use]
    pub fn current_retry_budget(&self) -> RetryBudget {
        self.budget
    }

    /// Calls `observer` with the duration and the reason before every wait of at least
    /// `at_least` (the quota's, pace mode's and a 429's), so a program can tell its user what
    /// it is waiting for. The observer runs on the waiting task: keep it short.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};
    /// let pacer = Pacer::new(RateLimitMethod::Wait).on_wait(Duration::from_secs(2), |wait, why| {
    ///     eprintln!("waiting {} s for {why}…", wait.as_secs());
    /// });
    /// # let _ = pacer;
    /// ```
    #[must_use]
    pub fn on_wait(
        mut self,
        at_least: Duration,
        observer: impl Fn(Duration, WaitReason) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(WaitObserver {
            at_least,
            notify: Arc::new(observer),
        });
        self
    }

    /// The rate-limit method.
    #[must_use]
    pub fn method(&self) -> RateLimitMethod {
        self.method
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// `key`'s header state, or `None` for a key that has never been used (its state is then
    /// [`PacerState::INITIAL`]).
    #[must_use]
    pub fn snapshot(&self, key: RateLimitKey) -> Option<PacerState> {
        self.store.lock().get(&key).map(|e| e.state)
    }

    /// How many keys the pacer holds state for.
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.lock().len()
    }

    /// `true` when no key has state.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.store.lock().is_empty()
    }

    /// Drops all state of `key` (for example after its token was revoked). Returns whether
    /// there was any.
    pub fn forget(&self, key: RateLimitKey) -> bool {
        self.store.lock().remove(&key).is_some()
    }

    /// Drops the keys whose state would make no difference any more: no usable reset, no
    /// pending backoff, no run of 429s, and a quota allowance that has refilled. Returns how
    /// many were dropped.
    /// Call it now and then in a process that serves many accounts.
    pub fn prune(&self) -> usize {
        let now = self.clock.now();
        let mono = self.clock.monotonic();
        let quota_full = |tat: u64| match &self.quota {
            None => true,
            Some(q) => q.origin.saturating_add(Duration::from_nanos(tat)) <= mono,
        };
        let mut map = self.store.lock();
        let before = map.len();
        map.retain(|_, e| !(e.run.is_none() && e.state.is_idle(now) && quota_full(e.tat)));
        map.shrink_to_fit();
        before - map.len()
    }

    fn is_pace(&self) -> bool {
        matches!(self.method, RateLimitMethod::Pace { .. })
    }

    /// Takes one quota slot for `key`, waiting for it unless the method is `throw`.
    async fn take_quota(&self, key: RateLimitKey) -> Result<(), RateLimitError> {
        let Some(q) = &self.quota else {
            return Ok(());
        };
        loop {
            let wait = match q.limiter.check_key(&key) {
                Ok(()) => return Ok(()),
                Err(not_until) => wait_for(&not_until, &*self.clock),
            };
            if matches!(self.method, RateLimitMethod::Throw) {
                return Err(RateLimitError::QuotaExhausted { wait });
            }
            // A zero wait means the slot is free by now: try again at once.
            self.sleep(key, wait, WaitReason::Quota).await;
        }
    }

    async fn sleep(&self, key: RateLimitKey, duration: Duration, why: WaitReason) {
        if !duration.is_zero() {
            tracing::debug!(key = key.id(), ?duration, %why, "rate limit: waiting");
            if let Some(observer) = &self.observer {
                observer.starting(duration, why);
            }
            self.clock.sleep(duration).await;
        }
    }
}

/// The pace factor of `method`, or 1.0 (an even spread) for one that is not a positive finite
/// number, which only a hand-built `RateLimitMethod::Pace` can have.
pub(crate) fn checked_pacefactor(method: RateLimitMethod) -> f64 {
    match method {
        RateLimitMethod::Pace { pacefactor } if pacefactor.is_finite() && pacefactor > 0.0 => {
            pacefactor
        }
        RateLimitMethod::Pace { pacefactor } => {
            tracing::warn!(pacefactor, "invalid pace factor replaced by 1.0");
            1.0
        }
        _ => RateLimitMethod::DEFAULT_PACEFACTOR,
    }
}

fn wait_for<C: Clock>(not_until: &NotUntil<Nanos>, clock: &C) -> Duration {
    let now = Nanos::new(u64::try_from(clock.monotonic().as_nanos()).unwrap_or(u64::MAX));
    not_until.wait_time_from(now)
}

impl<C: Clock> fmt::Debug for Pacer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("method", &self.method)
            .field("quota", &self.current_quota())
            .field("retry_budget", &self.budget)
            .field("on_wait", &self.observer)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl<C: Clock> RateLimiter for Pacer<C> {
    async fn before_request(&self, key: RateLimitKey) -> Result<(), RateLimitError> {
        if self.is_pace() {
            let now = self.clock.now();
            if let Some(entry) = self.store.lock().get(&key) {
                entry.state.pace_check(now)?;
            }
        }
        self.take_quota(key).await?;
        if self.is_pace() {
            let now = self.clock.now();
            let delay = self
                .store
                .lock()
                .get_mut(&key)
                .map_or(Duration::ZERO, |e| e.state.pace_delay(now, self.pacefactor));
            self.sleep(key, delay, WaitReason::Pace).await;
        }
        Ok(())
    }

    async fn after_response(
        &self,
        key: RateLimitKey,
        status: http::StatusCode,
        info: Result<Option<RateLimitInfo>, HeaderError>,
    ) -> Result<Verdict, RateLimitError> {
        let info = match info {
            Ok(info) => info,
            Err(bad) if self.is_pace() => return Err(RateLimitError::BadHeader(bad)),
            // Mastodon.py fails the call here in every mode; wait/throw keep their state
            // rather than fail a good response.
            Err(bad) => {
                tracing::debug!(error = %bad, "ignoring an unparseable rate-limit header");
                None
            }
        };
        let now = self.clock.now();
        let (delay, retry) = {
            let mut map = self.store.lock();
            let entry = map.entry(key).or_insert(Entry::FRESH);
            let state = &mut entry.state;
            state.apply_response(info.as_ref(), status.as_u16() < 400, now);
            if status != http::StatusCode::TOO_MANY_REQUESTS {
                entry.run = None;
                return Ok(Verdict::Accept);
            }
            let delay = match self.method {
                RateLimitMethod::Pace { .. } => state.pace_429(now)?,
                RateLimitMethod::Wait => state.wait_429(now),
                _ => return Err(state.hit(now)),
            };
            (delay, self.budget.charge(&mut entry.run, now, delay)?)
        };
        let why = WaitReason::TooManyRequests {
            retry,
            of: self.budget.retries(),
        };
        self.sleep(key, delay, why).await;
        // The resend is a request like any other: it needs a quota slot too.
        self.take_quota(key).await?;
        Ok(Verdict::Retry)
    }
}
