//! How much of the server's budget the pacer uses: a LocalInstance enforcing 300 requests per
//! window (Mastodon's 300 per 5 minutes, in compressed time), the full client in `pace` mode
//! sending as fast as the pacer allows for two whole windows.
//!
//! Mastodon's rate-limit headers are exact to the second only: `Date` has one-second
//! resolution (the pacer, like Mastodon.py, moves the reset by the difference between its
//! clock and `Date`), and `X-RateLimit-Reset` carries the fraction of the second of the
//! request, not of the window's end (rack-attack's quirk, which LocalInstance reproduces).
//! Each makes the pacer see a window up to a second longer than it is: 0.3 % of a real
//! 5-minute window, a third of a 3-second one. So the target is checked on 30-second windows
//! with the headers as Mastodon sends them, and 3-second windows are shown for information,
//! with and without `Date`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mastodon_auth_core::{HttpTransport, TransportError};
use mastodon_auth_ratelimit::{Pacer, RateLimitMethod};
use mastodon_auth_tests::{Approval, LocalInstance};

use crate::clients::{Target, log_in, unthrottled_pacer};
use crate::runtime::BoxError;

pub(crate) const LIMIT: u32 = 300;
pub(crate) const WINDOWS: u32 = 2;

/// One pace measurement's setup.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PaceRun {
    pub window: Duration,
    /// Whether the client sees the `Date` header.
    pub keep_date: bool,
}

/// What a pace run did.
pub(crate) struct PaceResult {
    pub run: PaceRun,
    pub ok: u64,
    pub too_many: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl PaceResult {
    /// Successful requests as a fraction of what the server allowed in the elapsed time.
    pub(crate) fn fraction(&self) -> f64 {
        let allowed = f64::from(LIMIT) * self.elapsed.as_secs_f64() / self.run.window.as_secs_f64();
        #[allow(clippy::cast_precision_loss)] // a few hundred requests
        let ok = self.ok as f64;
        ok / allowed.max(1.0)
    }
}

/// Sleeps until just after the instance's next window starts (windows are aligned to the
/// epoch, as rack-attack's are), so that the run covers whole windows.
async fn align_to_window(window: Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let into =
        Duration::from_nanos(u64::try_from(now.as_nanos() % window.as_nanos().max(1)).unwrap_or(0));
    tokio::time::sleep(window.saturating_sub(into) + Duration::from_millis(5)).await;
}

/// Runs the pace measurement against a fresh instance started here (its CPU does not matter).
pub(crate) async fn run(run: PaceRun) -> Result<PaceResult, BoxError> {
    let local = LocalInstance::builder()
        .rate_limit(LIMIT, run.window)
        .start()
        .await?;
    let result = run_against(&local, run).await;
    local.shutdown().await;
    result
}

async fn run_against(local: &LocalInstance, run: PaceRun) -> Result<PaceResult, BoxError> {
    let keep_date = run.keep_date;
    let target = Target {
        base_url: local.base_url(),
        ca_pem: local.ca_certificate_pem(),
    };
    let transport = target.transport()?;
    let setup = target
        .client(transport.clone(), unthrottled_pacer(), None)
        .await?;
    let token = log_in(&setup, |url| match local.approve(url) {
        Ok(Approval::OutOfBand { code }) => Ok(code),
        Ok(other) => Err(format!("unexpected approval {other:?}").into()),
        Err(e) => Err(format!("{}: {}", e.error, e.description).into()),
    })
    .await?;

    let too_many = Arc::new(AtomicU64::new(0));
    let counting = {
        let too_many = too_many.clone();
        move |request: http::Request<Bytes>| {
            let transport = transport.clone();
            let too_many = too_many.clone();
            async move {
                let mut response = transport.send(request).await?;
                if !keep_date {
                    response.headers_mut().remove(http::header::DATE);
                }
                if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
                    too_many.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, TransportError>(response)
            }
        }
    };
    let pacer = Pacer::new(RateLimitMethod::pace(1.1)?).without_quota();
    let client = target.client(counting, pacer, Some(&token)).await?;

    align_to_window(run.window).await;
    let start = Instant::now();
    let deadline = start + run.window * WINDOWS;
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    while Instant::now() < deadline {
        match client.account_verify_credentials().await {
            Ok(_) => ok += 1,
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
                // Do not spin on a refusing pacer.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    Ok(PaceResult {
        run,
        ok,
        too_many: too_many.load(Ordering::Relaxed),
        errors,
        first_error,
        elapsed: start.elapsed(),
    })
}
