//! Wall-clock helpers: Unix time and the ISO-8601 form rack-attack prints.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch (zero if the clock is before it).
pub(crate) fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// `%Y-%m-%dT%H:%M:%S.%6NZ`, as Ruby's `Time#iso8601(6)` prints a UTC time.
pub(crate) fn iso8601_micros(since_epoch: Duration) -> String {
    let t = time::OffsetDateTime::UNIX_EPOCH + since_epoch;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_recorded_reset_value() {
        // 2026-10-14T19:10:00.486515Z from test_app_account_create.yaml
        let t = Duration::from_secs(1_792_005_000) + Duration::from_micros(486_515);
        assert_eq!(iso8601_micros(t), "2026-10-14T19:10:00.486515Z");
    }

    #[test]
    fn formats_leap_day_and_epoch() {
        assert_eq!(
            iso8601_micros(Duration::ZERO),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            iso8601_micros(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000Z"
        );
    }
}
