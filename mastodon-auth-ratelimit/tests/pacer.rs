//! The Pacer's behaviour on a fake clock: Mastodon.py's rate-limit cases (as its
//! `Mastodon.__api_request` handles them), the choices we made for its quirks, and the
//! client-side quota.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use mastodon_auth_core::{
    AccessToken, HeaderError, RateLimitError, RateLimitInfo, RateLimitKey, RateLimiter, Verdict,
};
use mastodon_auth_ratelimit::{Clock, FakeClock, Pacer, PacerState, RateLimitMethod, RetryBudget};

const KEY: RateLimitKey = RateLimitKey::ANONYMOUS;
const OK: StatusCode = StatusCode::OK;
const TOO_MANY: StatusCode = StatusCode::TOO_MANY_REQUESTS;

fn at(secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(secs)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn headers(pairs: &[(&'static str, &str)]) -> Result<Option<RateLimitInfo>, HeaderError> {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(*name, value.parse().expect("test header value"));
    }
    RateLimitInfo::from_headers(&h)
}

#[allow(clippy::unnecessary_wraps)] // Shaped like `RateLimitInfo::from_headers`, for the same calls.
fn none() -> Result<Option<RateLimitInfo>, HeaderError> {
    Ok(None)
}

fn pacer(method: RateLimitMethod) -> (Pacer<FakeClock>, FakeClock) {
    let clock = FakeClock::at_unix_secs(1000);
    (
        Pacer::with_clock(method, clock.clone()).without_quota(),
        clock,
    )
}

fn pace() -> RateLimitMethod {
    RateLimitMethod::Pace { pacefactor: 1.1 }
}

fn state(p: &Pacer<FakeClock>) -> PacerState {
    p.snapshot(KEY).expect("key has state")
}

// ---- Mastodon.py's test_ratelimit_wait (tests/test_ratelimit.py) ----

#[tokio::test]
async fn wait_sleeps_until_reset_then_backs_off_2_then_4_and_clears_reset() {
    // With the default quota in front, as a user would have it: 9 requests stay within it.
    let clock = FakeClock::at_unix_secs(1000);
    let p = Pacer::with_clock(RateLimitMethod::Wait, clock.clone());
    let mut requests = 0;
    let mut send = async |status, info| {
        requests += 1;
        p.after_response(KEY, status, info).await
    };

    p.before_request(KEY).await.unwrap();
    let ok_with_reset = headers(&[
        ("x-ratelimit-remaining", "1"),
        ("x-ratelimit-reset", "1010"),
    ]);
    assert_eq!(send(OK, ok_with_reset).await, Ok(Verdict::Accept));
    p.before_request(KEY).await.unwrap();
    let limited = headers(&[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1010"),
    ]);
    assert_eq!(send(TOO_MANY, limited).await, Ok(Verdict::Retry));
    assert_eq!(clock.sleeps(), [secs(10.0)]);
    assert_eq!(send(OK, none()).await, Ok(Verdict::Accept));

    p.before_request(KEY).await.unwrap();
    assert_eq!(send(TOO_MANY, none()).await, Ok(Verdict::Retry));
    assert_eq!(send(TOO_MANY, none()).await, Ok(Verdict::Retry));
    assert_eq!(send(OK, none()).await, Ok(Verdict::Accept));
    assert_eq!(clock.sleeps(), [secs(10.0), secs(2.0), secs(4.0)]);

    for _ in 0..3 {
        p.before_request(KEY).await.unwrap();
        assert_eq!(send(OK, none()).await, Ok(Verdict::Accept));
    }
    assert_eq!(requests, 9);
    assert_eq!(clock.sleeps().len(), 3, "no further sleeps");
    let s = state(&p);
    assert_eq!(s.reset, None);
    assert_eq!(s.backoff, secs(2.0));
}

#[tokio::test]
async fn wait_backoff_doubles_to_300_caps_and_returns_to_2_after_an_ok() {
    // Mastodon.py retries without end; so does a pacer without a retry budget.
    let (p, clock) = pacer(RateLimitMethod::Wait);
    let p = p.retry_budget(RetryBudget::UNLIMITED);
    for _ in 0..11 {
        assert_eq!(
            p.after_response(KEY, TOO_MANY, none()).await,
            Ok(Verdict::Retry)
        );
    }
    let expected: Vec<Duration> = [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
        .into_iter()
        .map(Duration::from_secs)
        .collect();
    assert_eq!(clock.sleeps(), expected);
    assert_eq!(state(&p).backoff, secs(300.0));

    p.after_response(KEY, OK, none()).await.unwrap();
    assert_eq!(state(&p).backoff, secs(2.0));
    clock.clear_sleeps();
    p.after_response(KEY, TOO_MANY, none()).await.unwrap();
    assert_eq!(clock.sleeps(), [secs(2.0)]);
}

#[tokio::test]
async fn a_usable_future_reset_also_resets_the_backoff() {
    let (p, clock) = pacer(RateLimitMethod::Wait);
    p.after_response(KEY, TOO_MANY, none()).await.unwrap();
    p.after_response(KEY, TOO_MANY, none()).await.unwrap();
    assert_eq!(state(&p).backoff, secs(8.0));
    let now = clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let reset = (now + 20).to_string();
    p.after_response(
        KEY,
        StatusCode::NOT_FOUND,
        headers(&[("x-ratelimit-reset", &reset)]),
    )
    .await
    .unwrap();
    assert_eq!(state(&p).backoff, secs(2.0));
}

#[tokio::test]
async fn client_errors_do_not_reset_the_backoff() {
    let (p, _clock) = pacer(RateLimitMethod::Wait);
    p.after_response(KEY, TOO_MANY, none()).await.unwrap();
    p.after_response(KEY, StatusCode::UNPROCESSABLE_ENTITY, none())
        .await
        .unwrap();
    assert_eq!(state(&p).backoff, secs(4.0));
}

#[tokio::test]
async fn the_sleep_for_a_far_reset_is_capped_at_five_minutes() {
    let (p, clock) = pacer(RateLimitMethod::Wait);
    let r = headers(&[("x-ratelimit-reset", "5000")]);
    p.after_response(KEY, TOO_MANY, r).await.unwrap();
    assert_eq!(clock.sleeps(), [secs(300.0)]);
}

// ---- throw ----

#[tokio::test]
async fn throw_fails_at_the_first_429_with_the_reset_and_never_sleeps() {
    let (p, clock) = pacer(RateLimitMethod::Throw);
    for remaining in ["2", "1"] {
        p.before_request(KEY).await.unwrap();
        let h = headers(&[
            ("x-ratelimit-remaining", remaining),
            ("x-ratelimit-reset", "1010"),
        ]);
        assert_eq!(p.after_response(KEY, OK, h).await, Ok(Verdict::Accept));
    }
    p.before_request(KEY).await.unwrap();
    let h = headers(&[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1010"),
    ]);
    let hit = p.after_response(KEY, TOO_MANY, h).await.unwrap_err();
    assert_eq!(hit, RateLimitError::hit(Some(at(1010.0)), clock.now()));
    // The wait was worked out when the 429 came: printing never reads a clock.
    assert_eq!(hit.to_string(), "Hit rate limit. It resets in 10 s.");
    assert_eq!(
        p.after_response(KEY, TOO_MANY, none()).await,
        Err(RateLimitError::hit(Some(at(1010.0)), clock.now())),
        "the stored reset is still usable"
    );
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn throw_without_reset_reports_none() {
    let (p, _clock) = pacer(RateLimitMethod::Throw);
    assert_eq!(
        p.after_response(KEY, TOO_MANY, none()).await,
        Err(RateLimitError::Hit { reset: None })
    );
}

// ---- pace ----

#[tokio::test]
async fn pace_formula_matches_mastodon_py_probe() {
    // remaining 100, reset now + 199.5, last call 0.5 s ago, factor 1.1 → 1.359 s.
    let (p, clock) = pacer(pace());
    let h = headers(&[
        ("x-ratelimit-remaining", "100"),
        ("x-ratelimit-reset", "1970-01-01T00:20:00.000000Z"),
    ]);
    p.after_response(KEY, OK, h).await.unwrap();
    clock.advance(secs(0.5));
    p.before_request(KEY).await.unwrap();
    let slept = clock.sleeps();
    assert_eq!(slept.len(), 1);
    let expected = (199.5 / 100.0 - 0.5) / 1.1;
    assert!(
        (slept[0].as_secs_f64() - expected).abs() < 0.001,
        "{slept:?} vs {expected}"
    );
    assert!((slept[0].as_secs_f64() - 1.359).abs() < 0.001);
}

#[tokio::test]
async fn pace_never_delays_before_the_first_response() {
    let (p, clock) = pacer(pace());
    for _ in 0..5 {
        p.before_request(KEY).await.unwrap();
    }
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn pace_with_nothing_remaining_sleeps_until_reset_undivided() {
    let (p, clock) = pacer(pace());
    let h = headers(&[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1030"),
    ]);
    p.after_response(KEY, OK, h).await.unwrap();
    p.before_request(KEY).await.unwrap();
    assert_eq!(clock.sleeps(), [secs(30.0)]);
}

#[tokio::test]
async fn pace_does_not_sleep_when_enough_time_has_passed() {
    let (p, clock) = pacer(pace());
    let h = headers(&[
        ("x-ratelimit-remaining", "10"),
        ("x-ratelimit-reset", "1100"),
    ]);
    p.after_response(KEY, OK, h).await.unwrap();
    clock.advance(secs(20.0));
    p.before_request(KEY).await.unwrap();
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn pace_refuses_to_send_without_a_usable_reset_once_a_response_was_seen() {
    let (p, clock) = pacer(pace());
    // A response with Remaining but without Reset (Pixelfed style).
    p.after_response(KEY, OK, headers(&[("x-ratelimit-remaining", "10")]))
        .await
        .unwrap();
    assert_eq!(
        p.before_request(KEY).await,
        Err(RateLimitError::NoUsableReset)
    );
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn a_reset_in_the_past_is_unusable() {
    let (p, clock) = pacer(pace());
    let h = headers(&[
        ("x-ratelimit-remaining", "10"),
        ("x-ratelimit-reset", "999"),
    ]);
    p.after_response(KEY, OK, h).await.unwrap();
    assert_eq!(state(&p).reset, None);
    assert_eq!(
        p.before_request(KEY).await,
        Err(RateLimitError::NoUsableReset)
    );

    let (w, wclock) = pacer(RateLimitMethod::Wait);
    w.after_response(KEY, TOO_MANY, headers(&[("x-ratelimit-reset", "1000")]))
        .await
        .unwrap();
    assert_eq!(wclock.sleeps(), [secs(2.0)], "falls back to the backoff");
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn pace_after_an_idle_window_sends_instead_of_refusing() {
    let (p, clock) = pacer(pace());
    let h = headers(&[
        ("x-ratelimit-remaining", "10"),
        ("x-ratelimit-reset", "1010"),
    ]);
    p.after_response(KEY, OK, h).await.unwrap();
    assert!(state(&p).had_usable_reset);
    // Idle past the reset: that window is over, a new one has begun.
    clock.advance(secs(60.0));
    assert_eq!(p.before_request(KEY).await, Ok(()));
    assert!(clock.sleeps().is_empty(), "sent at once");
    // A response without a reset header now leaves the passed reset dropped, still no refusal.
    p.after_response(KEY, OK, headers(&[("x-ratelimit-remaining", "299")]))
        .await
        .unwrap();
    assert_eq!(p.before_request(KEY).await, Ok(()));
}

#[tokio::test]
async fn pace_on_429_sleeps_until_reset_or_fails_without_one() {
    let (p, clock) = pacer(pace());
    let h = headers(&[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1042"),
    ]);
    assert_eq!(p.after_response(KEY, TOO_MANY, h).await, Ok(Verdict::Retry));
    assert_eq!(clock.sleeps(), [secs(42.0)]);

    let (p, clock) = pacer(pace());
    assert_eq!(
        p.after_response(KEY, TOO_MANY, none()).await,
        Err(RateLimitError::NoUsableReset)
    );
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn concurrent_paced_requests_on_one_key_are_spread_out() {
    let (p, clock) = pacer(pace());
    let h = headers(&[
        ("x-ratelimit-remaining", "10"),
        ("x-ratelimit-reset", "1100"),
    ]);
    p.after_response(KEY, OK, h).await.unwrap();
    let (a, b) = tokio::join!(p.before_request(KEY), p.before_request(KEY));
    assert_eq!((a, b), (Ok(()), Ok(())));
    // The first waits its even share (100 s / 10 / 1.1); the second starts when the first's
    // sleep has ended and waits another share after the first's send time. Without the
    // reservation it would see 9 s passed since the last call and go at once.
    let slept = clock.sleeps();
    assert_eq!(slept.len(), 2, "{slept:?}");
    assert!(
        (slept[0].as_secs_f64() - 10.0 / 1.1).abs() < 0.001,
        "{slept:?}"
    );
    assert!(slept[1] > secs(8.0), "{slept:?}");
}

// ---- Date skew and reset formats ----

#[tokio::test]
async fn reset_is_moved_by_the_skew_between_local_clock_and_server_date() {
    for (server_now, expected) in [(995.0, 10.0), (1005.0, 10.0), (1000.0, 10.0)] {
        let (p, clock) = pacer(RateLimitMethod::Wait);
        // The server says: reset 10 s after my now; its clock is off by (server_now − 1000).
        let mut info = RateLimitInfo::default();
        info.reset = Some(at(server_now + 10.0));
        info.server_date = Some(at(server_now));
        p.after_response(KEY, TOO_MANY, Ok(Some(info)))
            .await
            .unwrap();
        assert_eq!(clock.sleeps(), [secs(expected)], "server at {server_now}");
    }
}

#[tokio::test]
async fn without_date_the_reset_is_taken_as_local_time() {
    let (p, clock) = pacer(RateLimitMethod::Wait);
    let mut info = RateLimitInfo::default();
    info.reset = Some(at(1007.0));
    p.after_response(KEY, TOO_MANY, Ok(Some(info)))
        .await
        .unwrap();
    assert_eq!(clock.sleeps(), [secs(7.0)]);
}

#[tokio::test]
async fn epoch_and_iso_resets_mean_the_same_time() {
    for reset in [
        "1010",
        "1010.0",
        "1970-01-01T00:16:50.000000Z",
        "1970-01-01T01:16:50+01:00",
    ] {
        let (p, clock) = pacer(RateLimitMethod::Wait);
        p.after_response(KEY, TOO_MANY, headers(&[("x-ratelimit-reset", reset)]))
            .await
            .unwrap();
        assert_eq!(clock.sleeps(), [secs(10.0)], "reset {reset}");
    }
}

// ---- bad headers (Mastodon.py fails the call in every mode) ----

#[tokio::test]
async fn bad_headers_fail_pace_mode_even_on_a_good_response() {
    for (name, value) in [
        ("x-ratelimit-reset", "garbage!!"),
        ("x-ratelimit-remaining", "many"),
        ("x-ratelimit-limit", "-3"),
    ] {
        let (p, _clock) = pacer(pace());
        let err = p
            .after_response(KEY, OK, headers(&[(name, value)]))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RateLimitError::BadHeader(e) if e.header == name),
            "{err:?}"
        );
        assert_eq!(p.snapshot(KEY), None, "state untouched");
    }
}

#[tokio::test]
async fn bad_headers_are_ignored_in_wait_and_throw_mode() {
    for method in [RateLimitMethod::Wait, RateLimitMethod::Throw] {
        let (p, _clock) = pacer(method);
        let good = headers(&[
            ("x-ratelimit-remaining", "7"),
            ("x-ratelimit-reset", "1050"),
        ]);
        p.after_response(KEY, OK, good).await.unwrap();
        let before = state(&p);
        let bad = headers(&[
            ("x-ratelimit-remaining", "3"),
            ("x-ratelimit-reset", "garbage!!"),
        ]);
        assert_eq!(
            p.after_response(KEY, OK, bad).await,
            Ok(Verdict::Accept),
            "{method:?}"
        );
        assert_eq!(state(&p), before, "{method:?} keeps its state");
    }
}

#[tokio::test]
async fn a_429_with_bad_headers_uses_the_previous_reset() {
    let (p, clock) = pacer(RateLimitMethod::Wait);
    p.after_response(KEY, OK, headers(&[("x-ratelimit-reset", "1020")]))
        .await
        .unwrap();
    let bad = headers(&[("x-ratelimit-reset", "soon")]);
    assert_eq!(
        p.after_response(KEY, TOO_MANY, bad).await,
        Ok(Verdict::Retry)
    );
    assert_eq!(clock.sleeps(), [secs(20.0)]);

    let (t, t_clock) = pacer(RateLimitMethod::Throw);
    t.after_response(KEY, OK, headers(&[("x-ratelimit-reset", "1020")]))
        .await
        .unwrap();
    let bad = headers(&[("x-ratelimit-reset", "soon")]);
    assert_eq!(
        t.after_response(KEY, TOO_MANY, bad).await,
        Err(RateLimitError::hit(Some(at(1020.0)), t_clock.now()))
    );
}

// ---- keys ----

#[tokio::test]
async fn state_is_kept_per_key() {
    let (p, clock) = pacer(RateLimitMethod::Wait);
    let alice = RateLimitKey::for_token(&AccessToken::new("alice-token"));
    p.after_response(alice, TOO_MANY, none()).await.unwrap();
    p.after_response(alice, TOO_MANY, none()).await.unwrap();
    // Bob's first 429 starts at 2 s: Alice's backoff is hers.
    p.after_response(KEY, TOO_MANY, none()).await.unwrap();
    assert_eq!(clock.sleeps(), [secs(2.0), secs(4.0), secs(2.0)]);
    assert_eq!(p.len(), 2);
    assert!(p.forget(alice));
    assert_eq!(p.snapshot(alice), None);
}

#[tokio::test]
async fn prune_drops_only_keys_whose_state_no_longer_matters() {
    let (p, clock) = pacer(RateLimitMethod::Wait);
    let busy = RateLimitKey::for_token(&AccessToken::new("busy"));
    p.after_response(KEY, OK, none()).await.unwrap();
    p.after_response(busy, OK, headers(&[("x-ratelimit-reset", "1100")]))
        .await
        .unwrap();
    assert_eq!(p.prune(), 1);
    assert!(p.snapshot(busy).is_some());
    clock.advance(secs(100.0));
    assert_eq!(p.prune(), 1);
    assert!(p.is_empty());
}
