//! `--micro`: what the full stack does per request on top of the transport, each piece timed
//! alone on a real response from the instance, to say where the (a)→(b) gap goes.

use std::time::{Duration, Instant};

use mastodon_auth_core::{
    AccessToken, Account, AccountKey, HttpTransport, InstanceUrl, RateLimitInfo, RateLimitKey,
    RateLimiter,
};

use crate::clients::{Target, VERIFY_PATH, unthrottled_pacer};
use crate::runtime::BoxError;

const ITERATIONS: u32 = 100_000;

/// `Account`'s typed fields without the flattened `extra` map: what a visitor that skips (or
/// defers) the rest would cost.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // only parsed, for timing
struct TypedOnly {
    id: String,
    username: String,
    acct: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    url: Option<String>,
}

fn time<T>(mut op: impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        std::hint::black_box(op());
    }
    start.elapsed() / ITERATIONS
}

/// Fetches one `verify_credentials` answer and times the client's per-request pieces on it.
pub(crate) async fn run(
    target: &Target,
    token: &AccessToken,
) -> Result<Vec<(String, Duration)>, BoxError> {
    let transport = target.transport()?;
    let mut request =
        http::Request::get(format!("{}{VERIFY_PATH}", target.base_url)).body(bytes::Bytes::new())?;
    let mut auth = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))?;
    auth.set_sensitive(true);
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, auth);
    let response = transport.send(request).await?;
    let (parts, body) = response.into_parts();
    let base = InstanceUrl::parse(&target.base_url)?;
    let mut rows = vec![(
        format!("response body: {} bytes", body.len()),
        Duration::ZERO,
    )];
    rows.push((
        "serde_json::from_slice → mastodon_auth_core::Account (the (a′) row)".to_owned(),
        time(|| serde_json::from_slice::<Account>(&body).map(drop)),
    ));
    rows.push((
        "UTF-8 check + serde_json::from_str → Account (as the client reads answers)".to_owned(),
        time(|| {
            std::str::from_utf8(&body)
                .map(|text| serde_json::from_str::<Account>(text).map(drop))
                .map(drop)
        }),
    ));
    rows.push((
        "serde_json → serde_json::Value (the whole document as a map)".to_owned(),
        time(|| serde_json::from_slice::<serde_json::Value>(&body).map(drop)),
    ));
    rows.push((
        "serde_json → typed fields only, rest skipped".to_owned(),
        time(|| serde_json::from_slice::<TypedOnly>(&body).map(drop)),
    ));
    rows.push((
        "serde_json → IgnoredAny (validate only)".to_owned(),
        time(|| serde_json::from_slice::<serde::de::IgnoredAny>(&body).map(drop)),
    ));
    rows.push((
        "RateLimitInfo::from_headers".to_owned(),
        time(|| RateLimitInfo::from_headers(&parts.headers).map(drop)),
    ));
    rows.push((
        "RateLimitKey::for_token".to_owned(),
        time(|| RateLimitKey::for_token(token)),
    ));
    rows.push((
        "AccountKey::new (on the first verify of an account)".to_owned(),
        time(|| AccountKey::new("bench", &base).map(drop)),
    ));
    let pacer = unthrottled_pacer();
    let key = RateLimitKey::for_token(token);
    let start = Instant::now();
    for _ in 0..ITERATIONS {
        pacer.before_request(key).await?;
        pacer
            .after_response(
                key,
                parts.status,
                RateLimitInfo::from_headers(&parts.headers),
            )
            .await?;
    }
    rows.push((
        "Pacer before_request + after_response (incl. from_headers)".to_owned(),
        start.elapsed() / ITERATIONS,
    ));
    Ok(rows)
}
