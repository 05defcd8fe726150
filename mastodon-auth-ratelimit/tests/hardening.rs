//! Regression tests for the rate-limit defects of the hardening review (issue 12, defect 5):
//! a server that answers 429 to everything, or resets in the year 9999, must not keep a
//! client waiting without end. All on a fake clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use mastodon_auth_core::{
    HeaderError, RateLimitError, RateLimitInfo, RateLimitKey, RateLimiter, Verdict,
};
use mastodon_auth_ratelimit::{Clock, FakeClock, Pacer, RateLimitMethod, RetryBudget, WaitReason};

const KEY: RateLimitKey = RateLimitKey::ANONYMOUS;
const TOO_MANY: StatusCode = StatusCode::TOO_MANY_REQUESTS;

fn headers(pairs: &[(&'static str, &str)]) -> Result<Option<RateLimitInfo>, HeaderError> {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(*name, value.parse().expect("test header value"));
    }
    RateLimitInfo::from_headers(&h)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Answers 429 (with `reset`, if any) to one request and its resends until the pacer stops
/// retrying, at most 100 times. Returns the sleeps and how the pacer ended it.
async fn storm(
    pacer: &Pacer<FakeClock>,
    clock: &FakeClock,
    reset: Option<&str>,
) -> (Vec<Duration>, Option<RateLimitError>) {
    pacer.before_request(KEY).await.unwrap();
    for _ in 0..100 {
        let info = match reset {
            Some(r) => headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", r)]),
            None => Ok(None),
        };
        match pacer.after_response(KEY, TOO_MANY, info).await {
            Ok(Verdict::Retry) => {}
            Ok(verdict) => panic!("a 429 was accepted: {verdict:?}"),
            Err(e) => return (clock.sleeps(), Some(e)),
        }
    }
    (clock.sleeps(), None)
}

fn pacer(method: RateLimitMethod) -> (Pacer<FakeClock>, FakeClock) {
    let clock = FakeClock::at_unix_secs(1000);
    (Pacer::with_clock(method, clock.clone()), clock)
}

#[tokio::test]
async fn defect_5_a_429_storm_ends_when_the_retry_budget_is_spent() {
    let (p, clock) = pacer(RateLimitMethod::Wait);
    let (sleeps, end) = storm(&p, &clock, None).await;
    // The default budget: 5 retries after the backoffs of Mastodon.py's wait mode.
    assert_eq!(sleeps, [secs(2), secs(4), secs(8), secs(16), secs(32)]);
    assert_eq!(
        end,
        Some(RateLimitError::RetryBudgetSpent {
            retries: 5,
            waited: secs(62)
        })
    );
    let message = end.unwrap().to_string();
    assert!(message.contains("429"), "{message}");
    assert!(message.contains("5 retries and 62 s"), "{message}");
}

#[tokio::test]
async fn defect_5_a_reset_in_the_year_9999_does_not_mean_endless_waits() {
    for (method, reset) in [
        (RateLimitMethod::Wait, "9999-12-31T23:59:59Z"),
        (RateLimitMethod::Wait, "99999999999"),
        (RateLimitMethod::Pace { pacefactor: 1.1 }, "99999999999"),
    ] {
        let (p, clock) = pacer(method);
        let (sleeps, end) = storm(&p, &clock, Some(reset)).await;
        // Each wait is capped at 5 minutes; the 15 minutes of the budget pay for three.
        assert_eq!(sleeps, [secs(300); 3], "{method:?} {reset}");
        assert_eq!(
            end,
            Some(RateLimitError::RetryBudgetSpent {
                retries: 3,
                waited: secs(900)
            }),
            "{method:?} {reset}"
        );
    }
}

#[tokio::test]
async fn the_retry_budget_is_configurable_and_starts_afresh_after_another_answer() {
    let (p, clock) = pacer(RateLimitMethod::Wait);
    let p = p.retry_budget(RetryBudget::new(1, secs(60)));
    let (sleeps, end) = storm(&p, &clock, Some("1010")).await;
    assert_eq!(sleeps, [secs(10)]);
    assert!(matches!(
        end,
        Some(RateLimitError::RetryBudgetSpent { retries: 1, .. })
    ));

    // A successful answer ends the run: the next 429 has the whole budget again.
    p.after_response(KEY, StatusCode::OK, Ok(None))
        .await
        .unwrap();
    clock.clear_sleeps();
    assert_eq!(
        p.after_response(KEY, TOO_MANY, Ok(None)).await,
        Ok(Verdict::Retry)
    );
    assert_eq!(clock.sleeps(), [secs(2)]);
}

#[tokio::test]
async fn throw_mode_is_unchanged_by_the_budget() {
    let (p, _clock) = pacer(RateLimitMethod::Throw);
    assert!(matches!(
        p.after_response(KEY, TOO_MANY, Ok(None)).await,
        Err(RateLimitError::Hit { .. })
    ));
}

/// A clock whose time moves only when the test moves it: sleeps are recorded and return at
/// once, so several tasks can be refused "while" one wait runs.
#[derive(Clone, Default)]
struct StillClock {
    now: Arc<Mutex<u64>>,
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

impl Clock for StillClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + secs(*self.now.lock().unwrap())
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.sleeps.lock().unwrap().push(duration);
        std::future::ready(())
    }
}

#[tokio::test]
async fn tasks_sharing_a_key_share_a_round_of_429s() {
    let clock = StillClock::default();
    *clock.now.lock().unwrap() = 1000;
    let p = Pacer::with_clock(RateLimitMethod::Wait, clock.clone())
        .without_quota()
        .retry_budget(RetryBudget::new(1, secs(60)));
    let limited =
        |reset: &str| headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset)]);
    // Three requests sent together are all refused before the first wait ends: one round.
    for _ in 0..3 {
        assert_eq!(
            p.after_response(KEY, TOO_MANY, limited("1010")).await,
            Ok(Verdict::Retry)
        );
    }
    assert_eq!(*clock.sleeps.lock().unwrap(), [secs(10); 3]);
    // Their resends, after the wait, are refused again: a second round, over the budget.
    *clock.now.lock().unwrap() = 1010;
    assert_eq!(
        p.after_response(KEY, TOO_MANY, limited("1020")).await,
        Err(RateLimitError::RetryBudgetSpent {
            retries: 1,
            waited: secs(10)
        })
    );
}

type Heard = Arc<Mutex<Vec<(Duration, WaitReason)>>>;

fn observed(method: RateLimitMethod, at_least: Duration) -> (Pacer<FakeClock>, FakeClock, Heard) {
    let heard: Heard = Arc::default();
    let log = Arc::clone(&heard);
    let clock = FakeClock::at_unix_secs(1000);
    let pacer = Pacer::with_clock(method, clock.clone()).on_wait(at_least, move |wait, why| {
        log.lock().unwrap().push((wait, why));
    });
    (pacer, clock, heard)
}

#[tokio::test]
async fn an_observer_hears_of_every_wait_over_its_threshold_before_it_starts() {
    let (p, clock, heard) = observed(RateLimitMethod::Wait, secs(3));
    let (sleeps, _) = storm(&p, &clock, None).await;
    assert_eq!(sleeps.len(), 5);
    // The 2 s backoff is under the threshold; 4 s and longer are announced.
    let heard = heard.lock().unwrap().clone();
    assert_eq!(
        heard,
        [
            (secs(4), WaitReason::TooManyRequests { retry: 2, of: 5 }),
            (secs(8), WaitReason::TooManyRequests { retry: 3, of: 5 }),
            (secs(16), WaitReason::TooManyRequests { retry: 4, of: 5 }),
            (secs(32), WaitReason::TooManyRequests { retry: 5, of: 5 }),
        ]
    );
}

#[tokio::test]
async fn an_observer_hears_of_pace_and_quota_waits() {
    let (p, _clock, heard) = observed(RateLimitMethod::Pace { pacefactor: 1.0 }, secs(1));
    let p = p.quota(1, secs(30)).unwrap();
    // The first request is free; the quota holds the second back for 30 s.
    p.before_request(KEY).await.unwrap();
    p.after_response(
        KEY,
        StatusCode::OK,
        headers(&[
            ("x-ratelimit-remaining", "1"),
            ("x-ratelimit-reset", "1100"),
        ]),
    )
    .await
    .unwrap();
    p.before_request(KEY).await.unwrap();
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard[0], (secs(30), WaitReason::Quota));
    // Then pace mode spreads the one request left over the 70 s to the reset, less the 30 s
    // since the last answer.
    assert_eq!(heard[1], (secs(40), WaitReason::Pace));
    assert_eq!(heard.len(), 2);
}
