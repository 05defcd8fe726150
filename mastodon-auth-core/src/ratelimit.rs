//! Rate-limit headers and the pluggable [`RateLimiter`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::error::{HeaderError, RateLimitError};

/// What the server said about its rate limit in one response.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use mastodon_auth_core::RateLimitInfo;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-ratelimit-limit", "300".parse().unwrap());
/// headers.insert("x-ratelimit-remaining", "299".parse().unwrap());
/// headers.insert("x-ratelimit-reset", "2026-10-14T19:05:00.020581Z".parse().unwrap());
/// let info = RateLimitInfo::from_headers(&headers)?.expect("headers present");
/// assert_eq!(info.limit, Some(300));
/// assert_eq!(info.remaining, Some(299));
/// assert_eq!(info.reset, Some(UNIX_EPOCH + Duration::from_micros(1_792_004_700_020_581)));
/// # Ok::<(), mastodon_auth_core::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RateLimitInfo {
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`, on the server's clock (ISO-8601 as Mastodon sends it, or epoch
    /// seconds as GoToSocial does).
    pub reset: Option<SystemTime>,
    /// The server's `Date`, to correct for clock skew.
    pub server_date: Option<SystemTime>,
}

/// The rate-limit headers, named once (making a `HeaderName` from a string parses it).
static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

impl RateLimitInfo {
    /// Parses the `X-RateLimit-*` headers and `Date`. `Ok(None)` when the response carries
    /// no rate-limit header at all (OAuth endpoints, for example).
    ///
    /// # Errors
    /// A [`HeaderError`] naming the header whose value is not understood.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, HeaderError> {
        // One walk over the few headers of a response costs less than four lookups, each of
        // which hashes a name. The first value of a header counts, as with `HeaderMap::get`.
        let (mut limit, mut remaining, mut reset, mut date) = (None, None, None, None);
        for (name, value) in headers {
            let slot = if name == header::DATE {
                &mut date
            } else if name == LIMIT {
                &mut limit
            } else if name == REMAINING {
                &mut remaining
            } else if name == RESET {
                &mut reset
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        let (limit, remaining, reset) = (
            text("x-ratelimit-limit", limit)?,
            text("x-ratelimit-remaining", remaining)?,
            text("x-ratelimit-reset", reset)?,
        );
        if limit.is_none() && remaining.is_none() && reset.is_none() {
            return Ok(None);
        }
        let int = |name: &'static str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| HeaderError::new(name, v, "expected a non-negative integer"))
        };
        Ok(Some(Self {
            limit: limit.map(|v| int("x-ratelimit-limit", v)).transpose()?,
            remaining: remaining
                .map(|v| int("x-ratelimit-remaining", v))
                .transpose()?,
            reset: reset.map(parse_reset).transpose()?,
            server_date: text("date", date)?.map(parse_date).transpose()?,
        }))
    }

    /// The reset time on the local clock: the server's reset moved by the difference between
    /// `local_now` and the server's `Date` (Mastodon.py's skew correction).
    #[must_use]
    pub fn reset_local(&self, local_now: SystemTime) -> Option<SystemTime> {
        let reset = self.reset?;
        let Some(date) = self.server_date else {
            return Some(reset);
        };
        match local_now.duration_since(date) {
            Ok(ahead) => reset.checked_add(ahead),
            Err(behind) => reset.checked_sub(behind.duration()),
        }
    }
}

/// A header's value as text, trimmed; `name` is for the error.
fn text<'a>(
    name: &'static str,
    value: Option<&'a HeaderValue>,
) -> Result<Option<&'a str>, HeaderError> {
    value
        .map(|v| {
            v.to_str().map(str::trim).map_err(|_| {
                HeaderError::new(name, &String::from_utf8_lossy(v.as_bytes()), "not text")
            })
        })
        .transpose()
}

/// Parses a `Date` value (RFC 9110 §5.6.7).
fn parse_date(value: &str) -> Result<SystemTime, HeaderError> {
    httpdate::parse_http_date(value)
        .map_err(|_| HeaderError::new("date", value, "expected an HTTP date"))
}

/// Parses an `X-RateLimit-Reset` value: integer or fractional epoch seconds, or ISO-8601.
fn parse_reset(value: &str) -> Result<SystemTime, HeaderError> {
    let err = |why: &str| HeaderError::new("x-ratelimit-reset", value, why);
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = value
            .parse()
            .map_err(|_| err("expected epoch seconds or an ISO-8601 time"))?;
        return Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| UNIX_EPOCH.checked_add(d))
            .ok_or_else(|| err("out of range"));
    }
    parse_iso8601(value).ok_or_else(|| err("expected epoch seconds or an ISO-8601 time"))
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; no zone means UTC.
pub(crate) fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset_secs = match &b[i..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let digits: Vec<u8> = rest.iter().copied().filter(|c| *c != b':').collect();
            if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) || rest.len() > 5 {
                return None;
            }
            let v = |k: usize| i64::from(digits[k] - b'0');
            let off = (v(0) * 10 + v(1)) * 3600 + (v(2) * 10 + v(3)) * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    // `time` checks the calendar (no 30 February); a leap second counts as the next second.
    let date = time::Date::from_calendar_date(
        i32::try_from(year).ok()?,
        time::Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let leap = i64::from(second == 60);
    let clock = time::Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second - leap).ok()?,
    )
    .ok()?;
    let offset = time::UtcOffset::from_whole_seconds(i32::try_from(offset_secs).ok()?).ok()?;
    let secs = time::PrimitiveDateTime::new(date, clock)
        .assume_offset(offset)
        .unix_timestamp()
        + leap;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, u32::try_from(nanos).ok()?))
}

/// Identifies whose budget a request spends: one per access token (a hash, never the token),
/// or the anonymous budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RateLimitKey(u64);

impl RateLimitKey {
    /// The budget of requests made without a token.
    pub const ANONYMOUS: Self = Self(0);

    /// The budget of `token`: the first 64 bits of its SHA-256, the same in every process and
    /// every build, so that limiters shared between processes (`RedisRateLimiter`) agree on
    /// the key. (std's `DefaultHasher` may change between Rust releases.)
    #[must_use]
    pub fn for_token(token: &crate::AccessToken) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(token.expose().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self(u64::from_be_bytes(first).max(1))
    }

    /// The raw key, for maps.
    #[must_use]
    pub fn id(self) -> u64 {
        self.0
    }
}

/// What the limiter decided about a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Hand the response to the caller.
    Accept,
    /// The limiter has waited: send the request again.
    Retry,
}

/// Paces requests and decides what a 429 means. `mastodon-auth-ratelimit`'s `Pacer` is the
/// full implementation; [`NoRateLimit`] is the default.
///
/// `before_request` runs before each rate-limited request (it may sleep, or refuse);
/// `after_response` runs after each of their responses, with the parsed headers, and decides
/// whether a 429 is retried (after sleeping) or becomes an error.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Called before a request on `key`'s budget is sent.
    async fn before_request(&self, key: RateLimitKey) -> Result<(), RateLimitError>;

    /// Called with each response's status and rate-limit headers.
    async fn after_response(
        &self,
        key: RateLimitKey,
        status: http::StatusCode,
        info: Result<Option<RateLimitInfo>, HeaderError>,
    ) -> Result<Verdict, RateLimitError>;
}

/// Sends everything at once and turns a 429 into [`RateLimitError::Hit`] (Mastodon.py's
/// `throw`, without pacing). The default when no limiter is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRateLimit;

#[async_trait::async_trait]
impl RateLimiter for NoRateLimit {
    async fn before_request(&self, _key: RateLimitKey) -> Result<(), RateLimitError> {
        Ok(())
    }

    async fn after_response(
        &self,
        _key: RateLimitKey,
        status: http::StatusCode,
        info: Result<Option<RateLimitInfo>, HeaderError>,
    ) -> Result<Verdict, RateLimitError> {
        if status == http::StatusCode::TOO_MANY_REQUESTS {
            let now = SystemTime::now();
            let reset = info
                .ok()
                .flatten()
                .and_then(|i| i.reset_local(now))
                .filter(|r| *r > now);
            return Err(RateLimitError::hit(reset, now));
        }
        Ok(Verdict::Accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn epoch(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn parses_mastodon_iso_reset_with_microseconds() {
        let info = RateLimitInfo::from_headers(&headers(&[(
            "x-ratelimit-reset",
            "2025-08-16T20:40:00.362203Z",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(
            info.reset,
            Some(epoch(1_755_376_800) + Duration::from_micros(362_203))
        );
    }

    #[test]
    fn parses_offsets_and_naive_times_as_utc() {
        assert_eq!(parse_iso8601("1970-01-01T01:00:00+01:00"), Some(epoch(0)));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00-0130"), Some(epoch(5400)));
        assert_eq!(
            parse_iso8601("2000-03-01 00:00:00"),
            Some(epoch(951_868_800))
        );
        assert_eq!(
            parse_iso8601("2024-02-29T12:00:00Z"),
            Some(epoch(1_709_208_000))
        );
        assert_eq!(
            parse_iso8601("1970-01-01t00:00:01,5z"),
            Some(epoch(1) + Duration::from_millis(500))
        );
        assert_eq!(parse_iso8601("1970-01-01T00:00:60Z"), Some(epoch(60)));
        assert_eq!(parse_iso8601("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_iso8601("1969-12-31T23:59:59Z"), None);
    }

    #[test]
    fn parses_epoch_resets_from_gotosocial() {
        let info = RateLimitInfo::from_headers(&headers(&[("x-ratelimit-reset", "1700000045")]))
            .unwrap()
            .unwrap();
        assert_eq!(info.reset, Some(epoch(1_700_000_045)));
        let frac = RateLimitInfo::from_headers(&headers(&[("x-ratelimit-reset", "1700000045.5")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            frac.reset,
            Some(epoch(1_700_000_045) + Duration::from_millis(500))
        );
    }

    #[test]
    fn bad_values_are_errors_naming_the_header() {
        for (name, value) in [
            ("x-ratelimit-reset", "garbage!!"),
            ("x-ratelimit-reset", "2026-13-01T00:00:00Z"),
            ("x-ratelimit-reset", "2026-01-01T00:00:00.Z"),
            ("x-ratelimit-reset", "99999999999999999999999"),
            ("x-ratelimit-remaining", "-1"),
            ("x-ratelimit-limit", "lots"),
            ("x-ratelimit-remaining", "1.5"),
        ] {
            let err = RateLimitInfo::from_headers(&headers(&[(name, value)])).unwrap_err();
            assert_eq!(err.header, name);
            assert!(err.to_string().contains(value), "{err}");
        }
        let date = headers(&[("x-ratelimit-limit", "300"), ("date", "yesterday")]);
        assert_eq!(
            RateLimitInfo::from_headers(&date).unwrap_err().header,
            "date"
        );
    }

    #[test]
    fn no_headers_means_none() {
        assert_eq!(
            RateLimitInfo::from_headers(&headers(&[("date", "Wed, 14 Oct 2026 19:04:21 GMT")]))
                .unwrap(),
            None
        );
    }

    #[test]
    fn skew_moves_reset_to_local_clock() {
        let info = RateLimitInfo {
            reset: Some(epoch(1_000)),
            server_date: Some(epoch(990)),
            ..RateLimitInfo::default()
        };
        // Local clock 5 s ahead of the server: the reset is 5 s later locally.
        assert_eq!(info.reset_local(epoch(995)), Some(epoch(1_005)));
        assert_eq!(info.reset_local(epoch(980)), Some(epoch(990)));
        let no_date = RateLimitInfo {
            reset: Some(epoch(1_000)),
            ..RateLimitInfo::default()
        };
        assert_eq!(no_date.reset_local(epoch(5)), Some(epoch(1_000)));
    }

    #[test]
    fn the_first_of_repeated_headers_counts() {
        let mut h = headers(&[("x-ratelimit-remaining", "7")]);
        h.append("x-ratelimit-remaining", "oops".parse().unwrap());
        h.append("date", "Wed, 14 Oct 2026 19:04:21 GMT".parse().unwrap());
        h.append("date", "yesterday".parse().unwrap());
        let info = RateLimitInfo::from_headers(&h).unwrap().unwrap();
        assert_eq!(info.remaining, Some(7));
        assert_eq!(info.server_date, Some(epoch(1_792_004_661)));
    }

    #[test]
    fn date_header_is_parsed() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("x-ratelimit-remaining", "3"),
            ("date", "Wed, 14 Oct 2026 19:04:21 GMT"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(info.server_date, Some(epoch(1_792_004_661)));
    }

    #[test]
    fn token_keys_differ_and_are_not_anonymous() {
        let a = RateLimitKey::for_token(&crate::AccessToken::new("a"));
        let b = RateLimitKey::for_token(&crate::AccessToken::new("b"));
        assert_ne!(a, b);
        assert_ne!(a, RateLimitKey::ANONYMOUS);
        assert_eq!(a, RateLimitKey::for_token(&crate::AccessToken::new("a")));
    }

    #[test]
    fn token_keys_are_stable_across_builds() {
        // SHA-256("a") begins ca978112ca1bbdca: a key that every process computes alike.
        let a = RateLimitKey::for_token(&crate::AccessToken::new("a"));
        assert_eq!(a.id(), 0xca97_8112_ca1b_bdca);
    }

    #[tokio::test]
    async fn no_rate_limit_throws_on_429() {
        let l = NoRateLimit;
        assert_eq!(
            l.after_response(RateLimitKey::ANONYMOUS, http::StatusCode::OK, Ok(None))
                .await,
            Ok(Verdict::Accept)
        );
        assert!(matches!(
            l.after_response(
                RateLimitKey::ANONYMOUS,
                http::StatusCode::TOO_MANY_REQUESTS,
                Ok(None)
            )
            .await,
            Err(RateLimitError::Hit { reset: None })
        ));
    }
}
