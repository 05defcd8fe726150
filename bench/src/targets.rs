//! The project's targets (issue 8; issue 21 for (b)/(a′)), in one place: the table's
//! PASS/MISS column compares against these.

/// (b)'s rate against (a)'s, the bare hyper client.
pub(crate) const RATE_VS_BARE: f64 = 0.95;
/// (b)'s CPU per request against (a)'s.
pub(crate) const CPU_VS_BARE: f64 = 1.1;
/// (b)'s CPU per request against (a′)'s: the bare client parsing the answer with serde_json
/// into the same struct, what a user would write by hand.
pub(crate) const CPU_VS_PARSED: f64 = 1.1;
/// (b)'s rate against Mastodon.py's.
pub(crate) const RATE_VS_PYTHON: f64 = 19.0;
/// The share of the rate limit the pacer uses, with no 429.
pub(crate) const PACE_FRACTION: f64 = 0.95;
/// A fresh process: spawn, HTTPS client, one verification, exit.
pub(crate) const COLD_START_MS: f64 = 50.0;
/// The heap of an idle account: `MemoryStore` entry and `Pacer` key.
pub(crate) const BYTES_PER_IDLE_ACCOUNT: f64 = 1024.0;
/// The shared limiter's rate against no limiter, 64 requests in flight.
pub(crate) const REDIS_RATE_VS_NONE: f64 = 0.9;
/// Round trips to Redis per request.
pub(crate) const REDIS_ROUND_TRIPS_PER_REQUEST: f64 = 1.0;
/// `PostgresStore` load or save of one account.
pub(crate) const STORE_OP_MS: f64 = 2.0;
