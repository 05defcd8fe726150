//! `RedisRateLimiter` against a real `redis-server`: one budget shared by several limiters and
//! by several processes against `LocalInstance`, concurrent callers of one process sharing
//! script calls without spending a slot more or less, what the server said shared between
//! them, and Redis dying and coming back mid-run.
//!
//! Skipped (with a note) where `redis-server` is not installed, unless
//! `MASTODON_AUTH_REQUIRE_SERVICES=1`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use mastodon_auth_core::{
    AccessToken, AuthorizationRequest, Error, HttpTransport, LoginGrant, Mastodon, RateLimitError,
    RateLimitInfo, RateLimitKey, RateLimiter, TransportError, Verdict,
};
use mastodon_auth_http::HyperTransport;
use mastodon_auth_ratelimit::{Quota, RateLimitMethod, RedisRateLimiter, RetryBudget, Unreachable};
use mastodon_auth_tests::{Approval, LocalInstance, RedisServer, Worker};
use tokio::task::JoinSet;

fn limiter(redis: &RedisServer, method: RateLimitMethod) -> RedisRateLimiter {
    RedisRateLimiter::builder(redis.url(), method)
        .build()
        .expect("limiter")
}

/// What a server's headers say: `remaining` left, the reset `reset_in` after its `Date`.
#[allow(clippy::unnecessary_wraps)] // Shaped like `RateLimitInfo::from_headers`, for the same calls.
fn headers(
    remaining: u64,
    reset_in: Duration,
) -> Result<Option<RateLimitInfo>, mastodon_auth_core::HeaderError> {
    let date = SystemTime::now();
    let mut info = RateLimitInfo::default();
    info.limit = Some(300);
    info.remaining = Some(remaining);
    info.reset = Some(date + reset_in);
    info.server_date = Some(date);
    Ok(Some(info))
}

async fn redis_connection(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn redis_field(redis: &RedisServer, key: &str, field: &str) -> Option<String> {
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query_async(&mut redis_connection(redis).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn two_limiters_spend_one_quota() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let build = || {
        RedisRateLimiter::builder(redis.url(), RateLimitMethod::Throw)
            .quota(3, Duration::from_secs(60))
            .unwrap()
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let key = RateLimitKey::for_token(&AccessToken::new("shared token"));
    // Quota::window(3, 60 s) is a burst of 1 and one request every 20 s.
    a.before_request(key).await.expect("first request");
    match b.before_request(key).await {
        Err(RateLimitError::QuotaExhausted { wait }) => {
            assert!(
                wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
                "{wait:?}"
            );
        }
        other => panic!("the second limiter must see the first one's request: {other:?}"),
    }
    assert!(matches!(
        a.before_request(key).await,
        Err(RateLimitError::QuotaExhausted { .. })
    ));
    // Another token has its own budget.
    let other = RateLimitKey::for_token(&AccessToken::new("another token"));
    b.before_request(other).await.expect("another key");
}

/// A burst of 40, then one request an hour: every test below runs within the first hour.
fn forty_an_hour() -> Quota {
    Quota::per_hour(NonZeroU32::MIN).with_burst(NonZeroU32::new(40).unwrap())
}

/// Script calls Redis has run since its statistics were last reset (`CONFIG RESETSTAT`).
async fn script_calls(connection: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let stats = line
                .strip_prefix("cmdstat_evalsha:")
                .or_else(|| line.strip_prefix("cmdstat_eval:"))?;
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

async fn reset_stats(connection: &mut redis::aio::MultiplexedConnection) {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(connection)
        .await
        .unwrap();
}

/// Runs `callers` concurrent `before_request`s on `key` through `limiter`.
fn spawn_callers(
    tasks: &mut JoinSet<Result<(), RateLimitError>>,
    limiter: &Arc<RedisRateLimiter>,
    key: RateLimitKey,
    callers: usize,
) {
    for _ in 0..callers {
        let limiter = limiter.clone();
        tasks.spawn(async move { limiter.before_request(key).await });
    }
}

// The two tests below run on one thread (`tokio::test`'s default), where every spawned caller
// is polled once, and so queues, before the answer to the first call can be read: the
// number of script calls does not depend on timing.

#[tokio::test]
async fn concurrent_callers_share_script_calls_and_spend_exactly_the_quota() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let build = || {
        Arc::new(
            RedisRateLimiter::builder(redis.url(), RateLimitMethod::Throw)
                .with_quota(forty_an_hour())
                .build()
                .unwrap(),
        )
    };
    // Two limiters with a connection each, as two processes would have.
    let (a, b) = (build(), build());
    let key = RateLimitKey::for_token(&AccessToken::new("shared token"));
    // Connected and the script loaded (on another key) before counting.
    let warm_up = RateLimitKey::for_token(&AccessToken::new("warm-up"));
    a.before_request(warm_up).await.unwrap();
    b.before_request(warm_up).await.unwrap();
    let mut connection = redis_connection(&redis).await;
    reset_stats(&mut connection).await;

    let mut callers = JoinSet::new();
    spawn_callers(&mut callers, &a, key, 32);
    spawn_callers(&mut callers, &b, key, 32);
    let (mut sent, mut refused) = (0, 0);
    while let Some(outcome) = callers.join_next().await {
        match outcome.unwrap() {
            Ok(()) => sent += 1,
            Err(RateLimitError::QuotaExhausted { wait }) => {
                assert!(wait > Duration::from_secs(3500), "{wait:?}");
                refused += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    // Exactly the burst went, across both limiters: no slot reserved ahead and left unused,
    // none given twice.
    assert_eq!((sent, refused), (40, 24));
    // Per limiter, the first caller's call and one for the 31 that queued behind it.
    assert_eq!(script_calls(&mut connection).await, 4);
}

#[tokio::test]
async fn batched_waiting_callers_take_one_slot_each() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let build = |method| {
        Arc::new(
            RedisRateLimiter::builder(redis.url(), method)
                .with_quota(forty_an_hour())
                .build()
                .unwrap(),
        )
    };
    let waiting = build(RateLimitMethod::Wait);
    let key = RateLimitKey::for_token(&AccessToken::new("shared token"));
    waiting
        .before_request(RateLimitKey::ANONYMOUS)
        .await
        .unwrap();
    let mut connection = redis_connection(&redis).await;
    reset_stats(&mut connection).await;

    // The whole burst, all at once, in wait mode: nobody needs to wait (a caller given a
    // slot past the burst would sleep for an hour; a minute is plenty).
    let mut callers = JoinSet::new();
    spawn_callers(&mut callers, &waiting, key, 40);
    let all_went = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(outcome) = callers.join_next().await {
            outcome.unwrap().unwrap();
        }
    });
    all_went
        .await
        .expect("a caller was given a slot past the burst");
    assert_eq!(script_calls(&mut connection).await, 2);
    // Another process finds the burst spent, and the next slot an hour after the first:
    // the 40 took 40 slots, not one more.
    match build(RateLimitMethod::Throw).before_request(key).await {
        Err(RateLimitError::QuotaExhausted { wait }) => assert!(
            wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600),
            "{wait:?}"
        ),
        other => panic!("the burst must be spent: {other:?}"),
    }
}

/// Runs `callers` concurrent `before_request`s and counts those that may go and those refused
/// for the quota.
async fn sent_and_refused(
    limiter: &Arc<RedisRateLimiter>,
    key: RateLimitKey,
    callers: usize,
) -> (usize, usize) {
    let mut tasks = JoinSet::new();
    spawn_callers(&mut tasks, limiter, key, callers);
    let (mut sent, mut refused) = (0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(()) => sent += 1,
            Err(RateLimitError::QuotaExhausted { .. }) => refused += 1,
            Err(other) => panic!("{other}"),
        }
    }
    (sent, refused)
}

/// A limiter with no client quota: only the server's headers limit it.
fn without_quota(redis: &RedisServer, method: RateLimitMethod) -> Arc<RedisRateLimiter> {
    Arc::new(
        RedisRateLimiter::builder(redis.url(), method)
            .without_quota()
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn callers_that_waited_bring_slots_ahead_for_the_next_ones() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let limiter = without_quota(&redis, RateLimitMethod::Wait);
    limiter
        .before_request(RateLimitKey::ANONYMOUS)
        .await
        .unwrap();
    let mut connection = redis_connection(&redis).await;
    reset_stats(&mut connection).await;
    let key = RateLimitKey::for_token(&AccessToken::new("busy token"));

    // The first caller's call, then one for the 63 that waited behind it, which also takes
    // slots ahead (4 per waiter, at most 64)…
    assert_eq!(sent_and_refused(&limiter, key, 64).await, (64, 0));
    assert_eq!(script_calls(&mut connection).await, 2);
    // …so the next 64 requests go without asking Redis…
    assert_eq!(sent_and_refused(&limiter, key, 64).await, (64, 0));
    assert_eq!(script_calls(&mut connection).await, 2);
    // …and the one after them asks again.
    limiter.before_request(key).await.unwrap();
    assert_eq!(script_calls(&mut connection).await, 3);
}

#[tokio::test]
async fn slots_ahead_are_spent_from_the_shared_quota_and_leave_half_the_burst() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let hundred_an_hour =
        Quota::per_hour(NonZeroU32::MIN).with_burst(NonZeroU32::new(100).unwrap());
    let build = |ahead| {
        Arc::new(
            RedisRateLimiter::builder(redis.url(), RateLimitMethod::Throw)
                .with_quota(hundred_an_hour)
                .slots_ahead(ahead)
                .build()
                .unwrap(),
        )
    };
    let (a, b) = (build(64), build(0));
    let key = RateLimitKey::for_token(&AccessToken::new("shared token"));
    // a: one call for the first caller, one for the 20 behind it, which would like 64 slots
    // ahead but gets 29: after 21 + 29, half of the burst of 100 is left free.
    assert_eq!(sent_and_refused(&a, key, 21).await, (21, 0));
    // b (taking nothing ahead) finds exactly that half.
    assert_eq!(sent_and_refused(&b, key, 60).await, (50, 10));
    // a's slots ahead are its own to use, and then the burst is spent.
    assert_eq!(sent_and_refused(&a, key, 29).await, (29, 0));
    assert_eq!(sent_and_refused(&a, key, 1).await, (0, 1));
}

#[tokio::test]
async fn a_response_saying_the_window_is_spent_drops_the_slots_ahead() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let a = without_quota(&redis, RateLimitMethod::Throw);
    let key = RateLimitKey::for_token(&AccessToken::new("t"));
    // 56 slots ahead for the next requests.
    assert_eq!(sent_and_refused(&a, key, 16).await, (16, 0));
    let verdict = a
        .after_response(key, StatusCode::OK, headers(0, Duration::from_secs(30)))
        .await;
    assert_eq!(verdict, Ok(Verdict::Accept));
    // The next request asks Redis, which now knows the window is spent.
    assert!(matches!(
        a.before_request(key).await,
        Err(RateLimitError::Hit { reset: Some(_) })
    ));
}

#[tokio::test]
async fn what_one_limiter_heard_the_others_honour() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let (a, b) = (
        limiter(&redis, RateLimitMethod::Throw),
        limiter(&redis, RateLimitMethod::Throw),
    );
    let key = RateLimitKey::for_token(&AccessToken::new("t"));
    a.before_request(key).await.unwrap();
    // The server says this was the last request of the window.
    let verdict = a
        .after_response(key, StatusCode::OK, headers(0, Duration::from_secs(30)))
        .await;
    assert_eq!(verdict, Ok(Verdict::Accept));
    // The headers travel with a's next request, which a's own view already refuses…
    assert!(matches!(
        a.before_request(key).await,
        Err(RateLimitError::Hit { reset: Some(_) })
    ));
    // …and so does every other process's, without sending anything.
    match b.before_request(key).await {
        Err(RateLimitError::Hit { reset: Some(reset) }) => {
            let left = reset.wait;
            assert!(
                left > Duration::from_secs(25) && left <= Duration::from_secs(30),
                "{left:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_429_is_shared_and_waited_out_in_wait_mode() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let (a, b) = (
        limiter(&redis, RateLimitMethod::Wait),
        limiter(&redis, RateLimitMethod::Wait),
    );
    let key = RateLimitKey::for_token(&AccessToken::new("t"));
    a.before_request(key).await.unwrap();
    let started = Instant::now();
    let verdict = a
        .after_response(
            key,
            StatusCode::TOO_MANY_REQUESTS,
            headers(0, Duration::from_millis(700)),
        )
        .await;
    assert_eq!(verdict, Ok(Verdict::Retry));
    // Sleeps never end early: these are lower bounds only.
    assert!(started.elapsed() >= Duration::from_millis(600));
    // b learnt of the 429 through Redis; its window has reset by now, so it goes at once.
    b.before_request(key).await.unwrap();

    // A 429 without any reset: wait mode invents one, 2 s, shared with b.
    let c = limiter(&redis, RateLimitMethod::Wait);
    let other = RateLimitKey::for_token(&AccessToken::new("u"));
    c.before_request(other).await.unwrap();
    let started = Instant::now();
    let (verdict, sent) = tokio::join!(
        c.after_response(other, StatusCode::TOO_MANY_REQUESTS, Ok(None)),
        async {
            // Give c's 429 a head start, then b's request must wait for the invented reset.
            tokio::time::sleep(Duration::from_millis(300)).await;
            b.before_request(other).await.map(|()| started.elapsed())
        }
    );
    assert_eq!(verdict, Ok(Verdict::Retry));
    let sent = sent.unwrap();
    assert!(sent >= Duration::from_millis(1900), "b went after {sent:?}");
    let prefix = mastodon_auth_ratelimit::DEFAULT_KEY_PREFIX;
    let redis_key = format!("{prefix}{:016x}", other.id());
    assert_eq!(
        redis_field(&redis, &redis_key, "backoff").await.as_deref(),
        Some("4000000"),
        "the backoff doubles for everyone"
    );
}

#[tokio::test]
async fn a_429_storm_ends_when_the_retry_budget_is_spent() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let limiter = RedisRateLimiter::builder(redis.url(), RateLimitMethod::Wait)
        .retry_budget(RetryBudget::new(1, Duration::from_secs(60)))
        .build()
        .unwrap();
    let key = RateLimitKey::for_token(&AccessToken::new("t"));
    let too_many = || async {
        limiter.before_request(key).await.unwrap();
        limiter
            .after_response(
                key,
                StatusCode::TOO_MANY_REQUESTS,
                headers(0, Duration::from_millis(100)),
            )
            .await
    };
    assert_eq!(too_many().await, Ok(Verdict::Retry));
    match too_many().await {
        Err(RateLimitError::RetryBudgetSpent { retries: 1, .. }) => {}
        other => panic!("the second retry must be refused: {other:?}"),
    }
    // An answer that is not a 429 ends the run: the next 429 is retried again.
    limiter.before_request(key).await.unwrap();
    let verdict = limiter
        .after_response(key, StatusCode::OK, headers(299, Duration::from_secs(300)))
        .await;
    assert_eq!(verdict, Ok(Verdict::Accept));
    assert_eq!(too_many().await, Ok(Verdict::Retry));
}

#[tokio::test]
async fn pace_reservations_are_shared() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let pace = RateLimitMethod::pace(1.0).unwrap();
    let (a, b) = (limiter(&redis, pace), limiter(&redis, pace));
    let key = RateLimitKey::for_token(&AccessToken::new("t"));
    // Before any response, pace mode has nothing to refuse and nothing to spread.
    a.before_request(key).await.unwrap();
    a.after_response(key, StatusCode::OK, headers(100, Duration::from_secs(2)))
        .await
        .unwrap();
    a.before_request(key).await.unwrap();
    b.before_request(key).await.unwrap();
    let redis_key = a.redis_key(key);
    // 100 left after the response, one reserved by each limiter.
    assert_eq!(
        redis_field(&redis, &redis_key, "remaining")
            .await
            .as_deref(),
        Some("98")
    );
    // A server that never sends a usable reset cannot be paced: refused before sending.
    let other = RateLimitKey::for_token(&AccessToken::new("u"));
    a.before_request(other).await.unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("x-ratelimit-remaining", "5".parse().unwrap());
    a.after_response(other, StatusCode::OK, RateLimitInfo::from_headers(&h))
        .await
        .unwrap();
    assert_eq!(
        a.before_request(other).await,
        Err(RateLimitError::NoUsableReset)
    );
    assert_eq!(
        b.before_request(other).await,
        Err(RateLimitError::NoUsableReset)
    );
}

#[tokio::test]
async fn redis_holds_no_token() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let token = "super-secret-token-value";
    let key = RateLimitKey::for_token(&AccessToken::new(token));
    let limiter = RedisRateLimiter::builder(redis.url(), RateLimitMethod::Wait)
        .key_prefix("test-fleet:")
        .build()
        .unwrap();
    limiter.before_request(key).await.unwrap();
    limiter
        .after_response(key, StatusCode::OK, headers(299, Duration::from_secs(60)))
        .await
        .unwrap();
    limiter.before_request(key).await.unwrap();
    let mut conn = redis_connection(&redis).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys, vec![format!("test-fleet:{:016x}", key.id())]);
    let values: Vec<String> = redis::cmd("HGETALL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(values.iter().any(|v| v == "299"), "{values:?}");
    assert!(!values.iter().any(|v| v.contains(token)), "{values:?}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "idle keys expire: {ttl}");
}

/// A logged-in client's token on a fresh HTTP instance.
async fn log_in(instance: &LocalInstance) -> AccessToken {
    let client = Mastodon::builder(instance.base_url())
        .transport(HyperTransport::new().unwrap())
        .allow_http(true)
        .build()
        .await
        .unwrap();
    client
        .create_app("fleet")
        .scopes("read".parse().unwrap())
        .send()
        .await
        .unwrap();
    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes("read".parse().unwrap())
        .build()
        .await
        .unwrap();
    let Ok(Approval::OutOfBand { code }) = instance.approve(&url) else {
        panic!("out-of-band approval expected")
    };
    client
        .log_in(LoginGrant::AuthorizationCode(pending.code(code)))
        .await
        .unwrap()
}

/// Counts the responses per status that went through it.
#[derive(Clone, Default)]
struct Counts {
    ok: Arc<AtomicUsize>,
    too_many: Arc<AtomicUsize>,
}

fn counting(counts: &Counts) -> impl HttpTransport + 'static {
    let inner = Arc::new(HyperTransport::new().unwrap());
    let counts = counts.clone();
    move |request: http::Request<Bytes>| {
        let (inner, counts) = (inner.clone(), counts.clone());
        async move {
            let response: Result<http::Response<Bytes>, TransportError> = inner.send(request).await;
            if let Ok(r) = &response {
                match r.status() {
                    StatusCode::TOO_MANY_REQUESTS => counts.too_many.fetch_add(1, Ordering::SeqCst),
                    s if s.is_success() => counts.ok.fetch_add(1, Ordering::SeqCst),
                    _ => 0,
                };
            }
            response
        }
    }
}

#[tokio::test]
async fn redis_killed_mid_run_falls_back_and_comes_back() {
    let Some(mut redis) = RedisServer::start_or_skip() else {
        return;
    };
    let instance = LocalInstance::builder().https(false).start().await.unwrap();
    let token = log_in(&instance).await;
    let limiter = Arc::new(
        RedisRateLimiter::builder(redis.url(), RateLimitMethod::Wait)
            .retry_after(Duration::from_millis(200))
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
    );
    let counts = Counts::default();
    let client = Mastodon::builder(instance.base_url())
        .transport(counting(&counts))
        .access_token(token.expose())
        .shared_rate_limiter(limiter.clone())
        .build()
        .await
        .unwrap();
    for _ in 0..5 {
        client.account_verify_credentials().await.unwrap();
    }
    assert!(limiter.is_shared());

    redis.kill();
    for _ in 0..10 {
        client
            .account_verify_credentials()
            .await
            .expect("requests go on without Redis");
    }
    assert!(!limiter.is_shared(), "pacing locally while Redis is down");
    // The local pacer saw every response, including those made while Redis was up.
    let key = RateLimitKey::for_token(&token);
    assert!(limiter.fallback().snapshot(key).is_some());

    redis.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !limiter.is_shared() {
        assert!(
            Instant::now() < deadline,
            "the limiter never went back to Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.account_verify_credentials().await.unwrap();
    }
    // Back on Redis: the (empty, restarted) server holds this token's key again.
    client.account_verify_credentials().await.unwrap();
    let tat = redis_field(&redis, &limiter.redis_key(key), "tat").await;
    assert!(tat.is_some_and(|t| t != "0"));
    assert_eq!(counts.too_many.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_fail_policy_fails_requests_until_redis_is_back() {
    let Some(mut redis) = RedisServer::start_or_skip() else {
        return;
    };
    let instance = LocalInstance::builder().https(false).start().await.unwrap();
    let token = log_in(&instance).await;
    let client = Mastodon::builder(instance.base_url())
        .transport(HyperTransport::new().unwrap())
        .access_token(token.expose())
        .rate_limiter(
            RedisRateLimiter::builder(redis.url(), RateLimitMethod::Wait)
                .when_unreachable(Unreachable::Fail)
                .retry_after(Duration::from_millis(100))
                .build()
                .unwrap(),
        )
        .build()
        .await
        .unwrap();
    client.account_verify_credentials().await.unwrap();
    redis.kill();
    let before = instance.requests().len();
    match client.account_verify_credentials().await {
        Err(Error::RateLimit(RateLimitError::Unavailable { backend, reason })) => {
            assert_eq!(backend, "redis");
            assert!(reason.contains(&redis.addr().to_string()), "{reason}");
        }
        other => panic!("expected the shared limit to be unavailable: {other:?}"),
    }
    assert_eq!(instance.requests().len(), before, "nothing was sent");
    redis.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.account_verify_credentials().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "still failing after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- Eight worker processes with four requests in flight each, one token, one budget ----

const WORKER: &str = "MASTODON_AUTH_FLEET_WORKER";
const WORKERS: usize = 8;
/// Concurrent requests in each worker, whose calls to Redis the limiter batches.
const TASKS_PER_WORKER: usize = 4;
/// The instance allows 60 requests per 6-second window; the run lasts three windows.
const LIMIT: u32 = 60;
const WINDOW: Duration = Duration::from_secs(6);
const RUN: Duration = Duration::from_secs(18);

/// The workers' quota: a little under the server's limit. A client can only bound when it
/// *sends*; the server counts by when requests *arrive*, in windows aligned to its own clock,
/// so a quota of exactly 60 could see 61 arrive in one window when a request is late by a
/// few milliseconds. With 57 per 6 s (one every 105 ms), a window holds at most 58 even with
/// lateness up to two intervals.
const QUOTA: u32 = 57;

struct WorkerSetup {
    base_url: String,
    token: String,
    redis_url: String,
    start_unix_ms: u128,
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Not a test on its own: `eight_worker_processes_share_one_budget` starts the test binary
/// again with this test and the worker's settings in the environment.
#[test]
#[ignore = "a worker process started by eight_worker_processes_share_one_budget"]
fn fleet_worker() {
    let Ok(setup) = std::env::var(WORKER) else {
        return;
    };
    let parts: Vec<&str> = setup.split('\n').collect();
    let [base_url, token, redis_url, start] = parts[..] else {
        panic!("bad worker setup")
    };
    let setup = WorkerSetup {
        base_url: base_url.to_owned(),
        token: token.to_owned(),
        redis_url: redis_url.to_owned(),
        start_unix_ms: start.parse().unwrap(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let counts = Counts::default();
    let (done, errors) = runtime.block_on(async {
        let limiter = RedisRateLimiter::builder(&setup.redis_url, RateLimitMethod::Wait)
            .quota(QUOTA, WINDOW)
            .unwrap()
            .when_unreachable(Unreachable::Fail)
            .build()
            .unwrap();
        let client = Mastodon::builder(&setup.base_url)
            .transport(counting(&counts))
            .access_token(setup.token.as_str())
            .rate_limiter(limiter)
            .build()
            .await
            .unwrap();
        let start = setup.start_unix_ms;
        let end = start + RUN.as_millis();
        let now = unix_ms();
        if now < start {
            tokio::time::sleep(Duration::from_millis(u64::try_from(start - now).unwrap())).await;
        }
        let mut tasks = JoinSet::new();
        for _ in 0..TASKS_PER_WORKER {
            let client = client.clone();
            tasks.spawn(async move {
                let (mut done, mut errors) = (0, 0);
                while unix_ms() < end {
                    match client.account_verify_credentials().await {
                        // Only what completed within the run counts towards the rate: a
                        // request that waited for a slot past the end is not part of the
                        // three windows.
                        Ok(_) if unix_ms() <= end => done += 1,
                        Ok(_) => {}
                        Err(_) => errors += 1,
                    }
                }
                (done, errors)
            });
        }
        let (mut done, mut errors) = (0, 0);
        while let Some(counts) = tasks.join_next().await {
            let (d, e) = counts.unwrap();
            done += d;
            errors += e;
        }
        (done, errors)
    });
    println!(
        "fleet-worker ok={done} too_many={} errors={errors}",
        counts.too_many.load(Ordering::SeqCst)
    );
}

#[test]
fn eight_worker_processes_share_one_budget() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let instance = runtime.block_on(async {
        LocalInstance::builder()
            .https(false)
            .rate_limit(LIMIT, WINDOW)
            .start()
            .await
            .unwrap()
    });
    let token = runtime.block_on(log_in(&instance));
    let mut connection = runtime.block_on(redis_connection(&redis));
    runtime.block_on(reset_stats(&mut connection));
    // Time for every process to start before the first request.
    let start = unix_ms() + 3000;
    let setup = [
        instance.base_url(),
        token.expose().to_owned(),
        redis.url(),
        start.to_string(),
    ]
    .join("\n");
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| Worker::spawn("fleet_worker", WORKER, &setup))
        .collect();
    let mut counts = Vec::new();
    for worker in workers {
        let line = worker.report("fleet-worker");
        let field = |name: &str| -> usize {
            line.split(' ')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        counts.push((field("ok"), field("too_many"), field("errors")));
    }
    let total: usize = counts.iter().map(|c| c.0).sum();
    let allowed = f64::from(LIMIT) * RUN.as_secs_f64() / WINDOW.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let share = total as f64 / allowed;
    let calls = runtime.block_on(script_calls(&mut connection));
    println!(
        "eight workers: {counts:?}; {total} requests, {share:.3} of the allowed rate, \
         {calls} script calls"
    );
    assert!(counts.iter().all(|c| c.1 == 0), "429s: {counts:?}");
    assert!(counts.iter().all(|c| c.2 == 0), "errors: {counts:?}");
    assert!(
        share >= 0.9,
        "only {share:.3} of the allowed rate: {counts:?}"
    );
    assert!(
        counts.iter().all(|c| c.0 * 16 >= total),
        "a worker starved: {counts:?}"
    );
    runtime.block_on(instance.shutdown());
}
