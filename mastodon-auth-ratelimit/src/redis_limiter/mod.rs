//! [`RedisRateLimiter`]: one rate budget per access token, shared by every process through
//! Redis.

mod ahead;
mod batch;
mod health;
mod script;

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use mastodon_auth_core::{
    Error, HeaderError, RateLimitError, RateLimitInfo, RateLimitKey, RateLimiter, Verdict,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use self::ahead::Stock;
use self::batch::{GroupCommit, Joined};
use self::health::Health;
use self::script::{Observation, Reply, StepScript};
use crate::budget::Run;
use crate::pacer::{DEFAULT_REQUESTS, DEFAULT_WINDOW, checked_pacefactor};
use crate::state::MAX_SLEEP;
use crate::{Pacer, Quota, RateLimitMethod, RetryBudget};

/// Where the shared state lives in Redis unless told otherwise; the key's id follows in hex.
pub const DEFAULT_KEY_PREFIX: &str = "mastodon-auth:ratelimit:";

/// The name errors give the backend.
const BACKEND: &str = "redis";

/// What a [`RedisRateLimiter`] does while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Unreachable {
    /// Pace with a local [`Pacer`] (same method, same quota, fed with every response so it
    /// knows what the server said), log once, and go back to Redis when it answers again.
    /// Each process then spends the budget on its own, so a fleet may collect 429s, which the
    /// method handles as usual.
    #[default]
    PaceLocally,
    /// Fail every rate-limited request with [`RateLimitError::Unavailable`] until Redis
    /// answers again: for fleets where a 429 costs more than a failed request.
    Fail,
}

/// Settings for a [`RedisRateLimiter`]; see [`RedisRateLimiter::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisRateLimiterBuilder {
    url: String,
    method: RateLimitMethod,
    quota: Option<Quota>,
    prefix: String,
    unreachable: Unreachable,
    timeout: Duration,
    retry_after: Duration,
    max_ahead: u32,
    budget: RetryBudget,
}

impl RedisRateLimiterBuilder {
    /// Never starts more than `requests` requests per key in any span of `per`, across every
    /// process (see [`Quota::window`]; default 300 per 5 minutes, Mastodon's limit).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `requests` is 0 or `per` is zero.
    pub fn quota(self, requests: u32, per: Duration) -> Result<Self, Error> {
        Ok(self.with_quota(Quota::window(requests, per)?))
    }

    /// Uses a [`Quota`] as it is (a burst, then one request per replenish
    /// interval), as [`Pacer::with_quota`] does.
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = Some(quota);
        self
    }

    /// No client-side quota: only the server's headers pace requests.
    pub fn without_quota(mut self) -> Self {
        self.quota = None;
        self
    }

    /// Prefixes every Redis key (default [`DEFAULT_KEY_PREFIX`]), to keep several fleets or
    /// several instances apart in one Redis database.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// What to do while Redis cannot be reached (default [`Unreachable::PaceLocally`]).
    pub fn when_unreachable(mut self, unreachable: Unreachable) -> Self {
        self.unreachable = unreachable;
        self
    }

    /// How long one Redis call (or one connection attempt) may take before Redis counts as
    /// unreachable (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long to stay away from Redis after it failed before trying it again (default
    /// 1 s). Requests in between go to the local pacer (or fail) at once.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Bounds the retries of one run of 429s on a key in this process, as
    /// [`Pacer::retry_budget`] does (default [`RetryBudget::DEFAULT`]: 5 retries, 15 minutes of
    /// waiting); the local fallback pacer gets the same budget.
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// At most how many quota slots one script call takes ahead for requests the process
    /// expects before its next call (default 64; 0: every request asks Redis). See
    /// [`RedisRateLimiter`] for when slots are taken ahead and what an unused one costs.
    pub fn slots_ahead(mut self, max: u32) -> Self {
        self.max_ahead = max;
        self
    }

    /// The limiter. It connects on its first request, so it can be built before Redis is up.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the URL is not a Redis URL.
    pub fn build(self) -> Result<RedisRateLimiter, Error> {
        let client = redis::Client::open(self.url.as_str()).map_err(|e| {
            // The URL may hold a password: name only what is wrong with it.
            Error::InvalidArgument(format!("invalid Redis URL: {}", e.detail().unwrap_or("")))
        })?;
        let address = client.get_connection_info().addr().to_string();
        let pacefactor = checked_pacefactor(self.method);
        let fallback = Pacer::new(self.method).retry_budget(self.budget);
        let fallback = match self.quota {
            Some(quota) => fallback.with_quota(quota),
            None => fallback.without_quota(),
        };
        Ok(RedisRateLimiter {
            client,
            address,
            connection: tokio::sync::OnceCell::new(),
            script: StepScript::new(self.method, pacefactor, self.quota, MAX_SLEEP),
            method: self.method,
            quota: self.quota,
            prefix: self.prefix,
            unreachable: self.unreachable,
            timeout: self.timeout,
            health: Health::new(self.retry_after),
            fallback,
            pending: Mutex::new(HashMap::new()),
            batches: GroupCommit::new(),
            stock: Stock::default(),
            max_ahead: self.max_ahead,
            budget: self.budget,
            runs: Mutex::new(HashMap::new()),
        })
    }
}

/// A [`RateLimiter`] whose budget per access token is shared by every process that uses the
/// same Redis: N workers on M machines pace as one client, instead of spending the server's
/// limit N times and collecting 429s.
///
/// It keeps [`Pacer`]'s semantics — the client-side quota (default 300 requests per 5 minutes
/// per token, Mastodon's limit) and Mastodon.py's `wait` / `throw` / `pace` state machine driven
/// by the `X-RateLimit-*` headers — with the state of each [`RateLimitKey`] in one Redis hash:
///
/// - **At most one round trip per request.** Before each request a Lua script takes the next
///   quota slot (GCRA, handed out in order, so no process starves) and, in pace mode,
///   computes and reserves the pace delay, atomically. Requests of one process that wait
///   for a slot on the same key at the same time share one call (group commit): while a
///   call is in flight the others queue, and the next call takes a slot for each of them,
///   so under load a process makes far fewer calls than requests while every request still
///   gets a slot of its own. The headers of a response travel with the process's next call
///   on that key; only a 429 costs a round trip of its own.
/// - **Slots taken ahead, while the budget is far from its end.** When callers had to wait
///   behind a call, the next call also takes a few slots (4 per waiting caller, at most
///   [`slots_ahead`](RedisRateLimiterBuilder::slots_ahead)) for the requests likely to come
///   before the call after it, and hands them out locally for 250 ms. Only while every
///   request of the call went at once, more than half of the quota's burst stays free after
///   them, and the server's last word left more than half of its limit; never in pace mode.
///   They are spent in Redis when taken, so the quota holds across the fleet; one left unused
///   is lost to the budget. A response saying the server's window is half spent (or a 429)
///   drops them, so that news reaches Redis with the next request.
/// - **What the server said is shared.** Remaining, reset and limit from any process's latest
///   response are every process's view: once a response says nothing is left until the
///   reset, the others wait for it (`wait`) or fail at once (`throw`) instead of spending a
///   request on a 429, and pace mode spreads the whole fleet's requests over the window.
/// - **A bound on 429 storms.** A run of 429s on a key is retried within a [`RetryBudget`]
///   per process ([`retry_budget`](RedisRateLimiterBuilder::retry_budget), default 5 retries
///   and 15 minutes of waiting), then fails with [`RateLimitError::RetryBudgetSpent`].
/// - **One clock.** The script reads Redis's clock; processes send durations only (the
///   reset is taken relative to the server's `Date`), so skewed machines agree.
/// - **Nothing secret in Redis.** Keys are `<prefix><key id in hex>`, and a key id is 64 bits
///   of the token's SHA-256 ([`RateLimitKey::for_token`]).
/// - **Redis down.** See [`Unreachable`]: by default a local [`Pacer`] takes over, a warning
///   is logged once, and Redis is tried again every [`retry_after`](RedisRateLimiterBuilder::retry_after);
///   the connection comes back by itself when Redis does.
///
/// Idle keys expire from Redis five minutes after their last use or reset.
///
/// ```no_run
/// use mastodon_auth_core::Mastodon;
/// use mastodon_auth_ratelimit::{RateLimitMethod, RedisRateLimiter};
/// # async fn run(transport: impl mastodon_auth_core::HttpTransport + 'static) -> Result<(), mastodon_auth_core::Error> {
/// let limiter = RedisRateLimiter::builder("redis://127.0.0.1:6379", RateLimitMethod::Wait)
///     .key_prefix("my-bot:")
///     .build()?;
/// let client = Mastodon::builder("https://mastodon.example")
///     .access_token("…")
///     .transport(transport) // e.g. mastodon_auth_http::HyperTransport
///     .rate_limiter(limiter)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
pub struct RedisRateLimiter {
    client: redis::Client,
    /// `host:port`, for messages (the URL may hold a password).
    address: String,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    script: StepScript,
    method: RateLimitMethod,
    quota: Option<Quota>,
    prefix: String,
    unreachable: Unreachable,
    timeout: Duration,
    health: Health,
    fallback: Pacer,
    /// Per key, the latest response not yet folded into Redis.
    pending: Mutex<HashMap<RateLimitKey, Observation>>,
    /// Per key, the callers waiting for the script call in flight, to share the next one.
    batches: GroupCommit<Slot>,
    /// Per key, slots taken ahead and not handed out yet.
    stock: Stock,
    max_ahead: u32,
    budget: RetryBudget,
    /// Per key, this process's current run of 429s, charged to `budget`.
    runs: Mutex<HashMap<RateLimitKey, Run>>,
}

/// One request's answer from the script, or why Redis could not be asked.
type Slot = Result<Reply, String>;

impl RedisRateLimiter {
    /// Settings for a limiter on the Redis at `url` (`redis://[user:password@]host:port/db`)
    /// with `method`.
    pub fn builder(url: impl Into<String>, method: RateLimitMethod) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder {
            url: url.into(),
            method,
            quota: Quota::window(DEFAULT_REQUESTS, DEFAULT_WINDOW).ok(),
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            unreachable: Unreachable::default(),
            timeout: Duration::from_secs(1),
            retry_after: Duration::from_secs(1),
            max_ahead: 64,
            budget: RetryBudget::DEFAULT,
        }
    }

    /// The rate-limit method.
    #[must_use]
    pub fn method(&self) -> RateLimitMethod {
        self.method
    }

    /// The quota in use, if any.
    #[must_use]
    pub fn current_quota(&self) -> Option<Quota> {
        self.quota
    }

    /// The Redis key holding `key`'s state.
    ///
    /// ```
    /// use mastodon_auth_core::RateLimitKey;
    /// use mastodon_auth_ratelimit::{RateLimitMethod, RedisRateLimiter};
    /// let limiter = RedisRateLimiter::builder("redis://127.0.0.1", RateLimitMethod::Wait)
    ///     .key_prefix("bots:")
    ///     .build()?;
    /// assert_eq!(limiter.redis_key(RateLimitKey::ANONYMOUS), "bots:0000000000000000");
    /// # Ok::<(), mastodon_auth_core::Error>(())
    /// ```
    #[must_use]
    pub fn redis_key(&self, key: RateLimitKey) -> String {
        format!("{}{:016x}", self.prefix, key.id())
    }

    /// Whether the limiter is pacing through Redis right now (`false` while it has found
    /// Redis unreachable and waits to try again).
    #[must_use]
    pub fn is_shared(&self) -> bool {
        !self.health.is_down()
    }

    /// The local pacer used while Redis is unreachable.
    #[must_use]
    pub fn fallback(&self) -> &Pacer {
        &self.fallback
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<RateLimitKey, Observation>> {
        // Nothing panics while holding the lock; recover the map rather than propagate.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn runs(&self) -> MutexGuard<'_, HashMap<RateLimitKey, Run>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Charges a 429 whose wait is `delay` to `key`'s run: the retry's number, or the error
    /// once the budget cannot pay for it.
    fn charge_retry(&self, key: RateLimitKey, delay: Duration) -> Result<u32, RateLimitError> {
        let mut runs = self.runs();
        let mut run = runs.remove(&key);
        let charged = self.budget.charge(&mut run, SystemTime::now(), delay);
        if let Some(run) = run {
            runs.insert(key, run);
        }
        charged
    }

    /// The connection, made on first use; it reconnects by itself.
    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    // One attempt per call: the health check decides when to try again.
                    .set_number_of_retries(0);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await?;
        Ok(connection.clone())
    }

    /// Runs `call` on Redis within the timeout, or says why Redis could not be asked.
    /// `None` (and `call` never started) while Redis is known to be down and not due for
    /// another try.
    async fn shared<R>(
        &self,
        call: impl Future<Output = Result<R, redis::RedisError>>,
    ) -> Option<Result<R, String>> {
        if !self.health.should_try() {
            return None;
        }
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        };
        match &result {
            Ok(_) => self.health.up(&self.address),
            Err(reason) => self.health.down(&self.address, reason, self.unreachable),
        }
        Some(result)
    }

    /// A slot for each of `requests` callers on `key`: from the slots taken ahead, then from
    /// one script call for the rest.
    async fn take_slots(&self, key: RateLimitKey, requests: NonZeroUsize) -> Vec<Slot> {
        let in_stock = self.stock.take(key, requests.get());
        let mut slots = vec![Ok(Reply::Go(Duration::ZERO)); in_stock];
        if let Some(rest) = NonZeroUsize::new(requests.get() - in_stock) {
            // Callers that waited behind the last call predict more before the next one.
            let waited = u32::try_from(requests.get() - 1).unwrap_or(u32::MAX);
            let ahead = waited.saturating_mul(ahead::PER_WAITER).min(self.max_ahead);
            slots.extend(self.call_for_slots(key, rest, ahead).await);
        }
        slots
    }

    /// One script call that takes a slot for each of `requests` callers on `key` and up to
    /// `ahead` more, carrying the latest response not yet folded in.
    async fn call_for_slots(
        &self,
        key: RateLimitKey,
        requests: NonZeroUsize,
        ahead: u32,
    ) -> Vec<Slot> {
        let observation = self.pending().remove(&key);
        let redis_key = self.redis_key(key);
        let call = async {
            let mut connection = self.connection().await?;
            self.script
                .send(
                    &mut connection,
                    &redis_key,
                    requests,
                    ahead,
                    observation.as_ref(),
                )
                .await
        };
        let reason = match self.shared(call).await {
            Some(Ok(taken)) => {
                self.stock.add(key, taken.ahead);
                return taken.replies.into_iter().map(Ok).collect();
            }
            Some(Err(reason)) => reason,
            None => self.health.last_error(),
        };
        if let Some(o) = observation {
            // Not folded in: keep it for the next try unless a newer one came.
            self.pending().entry(key).or_insert(o);
        }
        vec![Err(reason); requests.get()]
    }

    fn unavailable(&self, reason: &str) -> RateLimitError {
        RateLimitError::Unavailable {
            backend: BACKEND,
            reason: format!("{} at {}", reason, self.address),
        }
    }

    async fn before_unreachable(
        &self,
        key: RateLimitKey,
        reason: String,
    ) -> Result<(), RateLimitError> {
        match self.unreachable {
            Unreachable::PaceLocally => self.fallback.before_request(key).await,
            Unreachable::Fail => Err(self.unavailable(&reason)),
        }
    }
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("address", &self.address)
            .field("method", &self.method)
            .field("quota", &self.quota)
            .field("prefix", &self.prefix)
            .field("unreachable", &self.unreachable)
            .field("shared", &self.is_shared())
            .finish_non_exhaustive()
    }
}

/// A sleep decided by the script, never longer than [`MAX_SLEEP`] plus one quota queue.
async fn sleep(key: RateLimitKey, wait: Duration, why: &'static str) {
    if !wait.is_zero() {
        tracing::debug!(key = key.id(), ?wait, why, "shared rate limit: waiting");
        tokio::time::sleep(wait).await;
    }
}

/// A 429 for a window that resets `after` from now, on the local clock.
fn hit_after(after: Option<Duration>) -> RateLimitError {
    let now = SystemTime::now();
    RateLimitError::hit(after.and_then(|d| now.checked_add(d)), now)
}

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn before_request(&self, key: RateLimitKey) -> Result<(), RateLimitError> {
        if self.stock.take(key, 1) == 1 {
            return Ok(());
        }
        let slot = loop {
            match self.batches.join(key).await {
                Joined::Served(slot) => break slot,
                Joined::Lead(batch) => {
                    let slots = self.take_slots(key, batch.len()).await;
                    if let Some(slot) = batch.finish(slots) {
                        break slot;
                    }
                }
            }
        };
        match slot {
            Ok(Reply::Go(wait)) => {
                sleep(key, wait, "shared quota and pace").await;
                Ok(())
            }
            Ok(Reply::QuotaExhausted(wait)) => Err(RateLimitError::QuotaExhausted { wait }),
            Ok(Reply::NoUsableReset) => Err(RateLimitError::NoUsableReset),
            Ok(Reply::Hit(after)) => Err(hit_after(after)),
            Err(reason) => self.before_unreachable(key, reason).await,
        }
    }

    async fn after_response(
        &self,
        key: RateLimitKey,
        status: http::StatusCode,
        info: Result<Option<RateLimitInfo>, HeaderError>,
    ) -> Result<Verdict, RateLimitError> {
        let info = match info {
            Ok(info) => info,
            // As Pacer: pace mode needs the headers, wait and throw carry on without them.
            Err(bad) if matches!(self.method, RateLimitMethod::Pace { .. }) => {
                return Err(RateLimitError::BadHeader(bad));
            }
            Err(bad) => {
                tracing::debug!(error = %bad, "ignoring an unparseable rate-limit header");
                None
            }
        };
        let observation = Observation::new(status, info.as_ref());
        if status == http::StatusCode::TOO_MANY_REQUESTS || observation.is_tight() {
            self.stock.clear(key);
        }
        if status != http::StatusCode::TOO_MANY_REQUESTS {
            // The local pacer learns every response, so it is ready when Redis is not; for
            // anything but a 429 it only records the headers.
            self.fallback.after_response(key, status, Ok(info)).await?;
            self.pending().insert(key, observation);
            self.runs().remove(&key);
            return Ok(Verdict::Accept);
        }
        let redis_key = self.redis_key(key);
        let call = async {
            let mut connection = self.connection().await?;
            self.script
                .too_many(&mut connection, &redis_key, &observation)
                .await
        };
        match self.shared(call).await {
            Some(Ok(Reply::Go(wait))) => {
                self.charge_retry(key, wait)?;
                sleep(key, wait, "429").await;
                Ok(Verdict::Retry)
            }
            Some(Ok(Reply::NoUsableReset)) => Err(RateLimitError::NoUsableReset),
            Some(Ok(Reply::Hit(after))) => Err(hit_after(after)),
            Some(Ok(Reply::QuotaExhausted(wait))) => Err(RateLimitError::QuotaExhausted { wait }),
            failed => match self.unreachable {
                Unreachable::PaceLocally => {
                    self.fallback.after_response(key, status, Ok(info)).await
                }
                Unreachable::Fail => Err(self.unavailable(&match failed {
                    Some(Err(reason)) => reason,
                    _ => self.health.last_error(),
                })),
            },
        }
    }
}
