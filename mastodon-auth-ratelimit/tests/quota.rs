//! The client-side quota on a fake clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mastodon_auth_core::{AccessToken, RateLimitError, RateLimitKey, RateLimiter, Verdict};
use mastodon_auth_ratelimit::{Clock, FakeClock, Pacer, Quota, RateLimitMethod};

const KEY: RateLimitKey = RateLimitKey::ANONYMOUS;

/// The most send times that fall into any half-open span of `window`.
fn max_in_any_window(times: &mut [SystemTime], window: Duration) -> usize {
    times.sort();
    (0..times.len())
        .map(|i| {
            let end = times[i] + window;
            times[i..].iter().take_while(|t| **t < end).count()
        })
        .max()
        .unwrap_or(0)
}

async fn hammer(pacer: Arc<Pacer<FakeClock>>, tasks: usize, each: usize) -> Vec<SystemTime> {
    let times = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (pacer, times) = (Arc::clone(&pacer), Arc::clone(&times));
            tokio::spawn(async move {
                for _ in 0..each {
                    pacer
                        .before_request(KEY)
                        .await
                        .expect("wait mode never fails");
                    // Same poll as the quota check: the fake clock cannot have moved.
                    times.lock().unwrap().push(pacer.clock().now());
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task finished");
    }
    Arc::try_unwrap(times).unwrap().into_inner().unwrap()
}

#[tokio::test]
async fn sixty_four_tasks_never_exceed_the_quota_in_any_window() {
    for (limit, window) in [(10, 10), (300, 300), (7, 1)] {
        let window = Duration::from_secs(window);
        let clock = FakeClock::at_unix_secs(1000);
        let pacer = Arc::new(
            Pacer::with_clock(RateLimitMethod::Wait, clock.clone())
                .quota(limit, window)
                .unwrap(),
        );
        let mut times = hammer(pacer, 64, 8).await;
        assert_eq!(times.len(), 64 * 8);
        let most = max_in_any_window(&mut times, window);
        assert!(most <= limit as usize, "{most} > {limit} per {window:?}");
        // And the quota is not needlessly strict: over the run the rate is close to the limit.
        let span = times[times.len() - 1].duration_since(times[0]).unwrap();
        let rate = times.len() as f64 / span.as_secs_f64();
        let target = f64::from(limit) / window.as_secs_f64();
        assert!(rate > 0.8 * target, "rate {rate} vs {target}");
    }
}

#[test]
fn sixty_four_tasks_on_a_multi_threaded_runtime_all_get_through() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = FakeClock::at_unix_secs(1000);
        let pacer = Arc::new(
            Pacer::with_clock(RateLimitMethod::Pace { pacefactor: 1.1 }, clock)
                .quota(50, Duration::from_secs(10))
                .unwrap(),
        );
        let times = hammer(pacer, 64, 4).await;
        assert_eq!(times.len(), 256);
    });
}

#[tokio::test]
async fn throw_mode_reports_how_long_until_the_quota_allows_a_request() {
    let clock = FakeClock::at_unix_secs(1000);
    let pacer = Pacer::with_clock(RateLimitMethod::Throw, clock.clone())
        .quota(3, Duration::from_secs(9))
        .unwrap();
    // A burst of 1 and then one every 3 s.
    pacer.before_request(KEY).await.unwrap();
    assert_eq!(
        pacer.before_request(KEY).await,
        Err(RateLimitError::QuotaExhausted {
            wait: Duration::from_secs(3)
        })
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        pacer.before_request(KEY).await,
        Err(RateLimitError::QuotaExhausted {
            wait: Duration::from_secs(2)
        })
    );
    clock.advance(Duration::from_secs(2));
    pacer.before_request(KEY).await.unwrap();
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn separate_keys_do_not_share_a_budget() {
    let clock = FakeClock::at_unix_secs(1000);
    let pacer = Pacer::with_clock(RateLimitMethod::Wait, clock.clone())
        .quota(1, Duration::from_secs(10))
        .unwrap();
    let alice = RateLimitKey::for_token(&AccessToken::new("alice"));
    let bob = RateLimitKey::for_token(&AccessToken::new("bob"));
    pacer.before_request(alice).await.unwrap();
    pacer.before_request(bob).await.unwrap();
    pacer.before_request(KEY).await.unwrap();
    assert!(clock.sleeps().is_empty());
    pacer.before_request(alice).await.unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_secs(10)]);
}

#[tokio::test]
async fn a_retry_after_429_takes_a_quota_slot_too() {
    let clock = FakeClock::at_unix_secs(1000);
    let pacer = Pacer::with_clock(RateLimitMethod::Wait, clock.clone())
        .quota(1, Duration::from_secs(10))
        .unwrap();
    pacer.before_request(KEY).await.unwrap();
    let mut info = mastodon_auth_core::RateLimitInfo::default();
    info.reset = Some(clock.now() + Duration::from_secs(2));
    let verdict = pacer
        .after_response(KEY, http::StatusCode::TOO_MANY_REQUESTS, Ok(Some(info)))
        .await;
    assert_eq!(verdict, Ok(Verdict::Retry));
    // 2 s for the server's reset, then 8 s more until the quota's 10 s have passed.
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(2), Duration::from_secs(8)]
    );
}

#[tokio::test]
async fn the_default_quota_allows_a_quick_start_then_paces() {
    let clock = FakeClock::at_unix_secs(1000);
    let pacer = Pacer::with_clock(RateLimitMethod::Wait, clock.clone());
    for _ in 0..10 {
        pacer.before_request(KEY).await.unwrap();
    }
    assert!(clock.sleeps().is_empty(), "a burst of 10 goes at once");
    pacer.before_request(KEY).await.unwrap();
    let slept = clock.sleeps();
    assert_eq!(slept.len(), 1);
    // 300 s / 291 intervals.
    assert!(
        (slept[0].as_secs_f64() - 300.0 / 291.0).abs() < 1e-6,
        "{slept:?}"
    );
}

#[tokio::test]
async fn without_quota_nothing_waits() {
    let clock = FakeClock::at_unix_secs(1000);
    let pacer = Pacer::with_clock(RateLimitMethod::Throw, clock.clone()).without_quota();
    for _ in 0..1000 {
        pacer.before_request(KEY).await.unwrap();
    }
    assert!(clock.sleeps().is_empty());
}

#[test]
fn window_quotas_reject_empty_windows_and_bound_any_window() {
    assert!(Quota::window(0, Duration::from_secs(1)).is_err());
    assert!(Quota::window(5, Duration::ZERO).is_err());
    for (n, per) in [(1, 1), (29, 60), (30, 60), (300, 300), (7500, 300)] {
        let per = Duration::from_secs(per);
        let q = Quota::window(n, per).unwrap();
        let b = q.burst().get();
        let tau = q.interval();
        // GCRA's bound for a half-open span: b − 1 + ⌈per / τ⌉.
        let intervals = per.as_nanos().div_ceil(tau.as_nanos());
        assert!(
            u128::from(b) - 1 + intervals <= u128::from(n),
            "{n} per {per:?}"
        );
    }
}
