//! How much each measurement sends: the sizes of a full, a fleet and a quick run.

use crate::throughput::Mode;

/// Concurrency of the "in flight" rows.
pub(crate) const IN_FLIGHT: usize = 64;
/// Cold starts measured (after one unmeasured start that warms the page cache).
pub(crate) const COLD_STARTS: usize = 10;

/// Sizes of the throughput measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) rounds: usize,
    pub(crate) sequential: usize,
    pub(crate) in_flight_total: usize,
    pub(crate) python: usize,
}

/// Many short rounds rather than a few long ones: the ratios are taken within a round, and
/// the more rounds, the less one disturbed round moves their median.
pub(crate) const FULL: Plan = Plan {
    rounds: 15,
    sequential: 2_000,
    in_flight_total: 4_096,
    python: 200,
};

/// The fleet rows keep the longer blocks they were first measured with: a
/// `RedisRateLimiter` hands out slots taken ahead for 250 ms, and a block of a tenth of a
/// second would weigh how its first calls fill up.
pub(crate) const FLEET: Plan = Plan {
    rounds: 15,
    sequential: 5_000,
    in_flight_total: 10_240,
    python: 0,
};

pub(crate) const QUICK: Plan = Plan {
    rounds: 2,
    sequential: 500,
    in_flight_total: 1_024,
    python: 50,
};

/// The two throughput modes and how many requests each measures.
pub(crate) fn modes(plan: Plan) -> [(Mode, usize); 2] {
    [
        (Mode::Sequential, plan.sequential),
        (Mode::InFlight(IN_FLIGHT), plan.in_flight_total),
    ]
}
