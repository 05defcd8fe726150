//! Requests per second and CPU per request, contenders interleaved in rounds.

use std::fmt;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::clients::{Contender, Python};
use crate::cpu::process_cpu;
use crate::runtime::BoxError;

/// No block may take longer than this (a hung server would otherwise hang the bench).
const BLOCK_LIMIT: Duration = Duration::from_secs(120);

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One after another from one task.
    Sequential,
    /// This many tasks, each sending one after another.
    InFlight(usize),
}

/// As the table's headings say it: `sequential`, `64 in flight`.
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sequential => f.write_str("sequential"),
            Self::InFlight(n) => write!(f, "{n} in flight"),
        }
    }
}

/// One timed block of requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub requests: usize,
    pub wall: Duration,
    pub cpu: Duration,
}

impl Sample {
    pub(crate) fn rate(&self) -> f64 {
        count_f64(self.requests) / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    pub(crate) fn cpu_per_request(&self) -> Duration {
        self.cpu
            .div_f64(count_f64(self.requests.max(1)))
            .max(Duration::ZERO)
    }

    /// [`cpu_per_request`](Self::cpu_per_request) in seconds, the measure [`paired`] takes.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        self.cpu_per_request().as_secs_f64()
    }
}

#[allow(clippy::cast_precision_loss)] // counts are far below 2^52
pub(crate) fn count_f64(n: usize) -> f64 {
    n as f64
}

/// Sends `requests` calls through `contender` and measures wall and process CPU time.
pub(crate) async fn block(
    contender: &Contender,
    mode: Mode,
    requests: usize,
) -> Result<Sample, BoxError> {
    let run = async {
        let cpu = process_cpu();
        let start = Instant::now();
        let sent = match mode {
            Mode::Sequential => {
                for _ in 0..requests {
                    contender.verify().await?;
                }
                requests
            }
            Mode::InFlight(tasks) => {
                let per_task = requests / tasks;
                let mut set = JoinSet::new();
                for _ in 0..tasks {
                    let contender = contender.clone();
                    set.spawn(async move {
                        for _ in 0..per_task {
                            contender.verify().await?;
                        }
                        Ok::<(), String>(())
                    });
                }
                while let Some(done) = set.join_next().await {
                    done.map_err(|e| format!("a request task failed: {e}"))??;
                }
                per_task * tasks
            }
        };
        let wall = start.elapsed();
        Ok::<_, String>(Sample {
            requests: sent,
            wall,
            cpu: process_cpu().saturating_sub(cpu),
        })
    };
    match tokio::time::timeout(BLOCK_LIMIT, run).await {
        Ok(sample) => Ok(sample?),
        Err(_) => Err(format!("a block of {requests} requests took over {BLOCK_LIMIT:?}").into()),
    }
}

/// Mastodon.py's block (sequential only; it is synchronous), measured by the driver itself.
pub(crate) fn python_block(py: &mut Python, requests: usize) -> Result<Sample, BoxError> {
    let (wall, cpu) = py.run(requests)?;
    Ok(Sample {
        requests,
        wall,
        cpu,
    })
}

/// The median of the rates and, separately, of the CPU per request; `None` without samples.
pub(crate) fn medians(samples: &[Sample]) -> Option<(f64, Duration)> {
    let mut rates: Vec<f64> = samples.iter().map(Sample::rate).collect();
    let mut cpus: Vec<Duration> = samples.iter().map(Sample::cpu_per_request).collect();
    rates.sort_by(f64::total_cmp);
    cpus.sort();
    let mid = |n: usize| n / 2;
    Some((*rates.get(mid(rates.len()))?, *cpus.get(mid(cpus.len()))?))
}

/// A ratio between two contenders over the rounds: the median, and the middle half of the
/// rounds (first to third quartile).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

/// `measure(num) / measure(den)` within each round, over the rounds. Blocks of one round run
/// within a second or two of each other, so a ratio taken inside a round cancels what drifts
/// between rounds on a shared machine (a neighbour's burst, frequency changes); the median
/// of those ratios is steadier than the ratio of two medians. `None` without a round.
pub(crate) fn paired(
    num: &[Sample],
    den: &[Sample],
    measure: impl Fn(&Sample) -> f64,
) -> Option<Spread> {
    let mut ratios: Vec<f64> = num
        .iter()
        .zip(den)
        .map(|(n, d)| measure(n) / measure(d).max(f64::MIN_POSITIVE))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: usize| ratios.get((ratios.len() - 1) * q / 4).copied();
    Some(Spread {
        median: *ratios.get(ratios.len() / 2)?,
        low: at(1)?,
        high: at(3)?,
    })
}

/// Order of the contenders in round `round`: rotated, so that none always runs first (cold
/// caches, a neighbour's burst of load) or always right after the same other one.
pub(crate) fn rotation(contenders: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..contenders).map(move |i| (i + round) % contenders.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(requests: usize, wall_ms: u64, cpu_ms: u64) -> Sample {
        Sample {
            requests,
            wall: Duration::from_millis(wall_ms),
            cpu: Duration::from_millis(cpu_ms),
        }
    }

    #[test]
    fn medians_take_the_middle_rate_and_the_middle_cpu_independently() {
        let samples = [
            sample(1000, 1000, 500),
            sample(1000, 500, 900),
            sample(1000, 2000, 100),
        ];
        let (rate, cpu) = medians(&samples).expect("three samples");
        assert!((rate - 1000.0).abs() < 1e-6, "rate {rate}");
        assert_eq!(cpu, Duration::from_micros(500));
    }

    #[test]
    fn medians_of_nothing_is_none() {
        assert!(medians(&[]).is_none());
    }

    #[test]
    fn paired_ratios_are_taken_within_each_round() {
        // (a) drifts from fast to slow; (b) is 0.9 of (a) in every round. Medians taken apart
        // would compare (b)'s middle round with (a)'s, which drifted differently.
        let a: Vec<Sample> = [100, 200, 300, 400, 500]
            .map(|wall| sample(1000, wall, 100))
            .to_vec();
        let b: Vec<Sample> = [111, 222, 333, 444, 556]
            .map(|wall| sample(1000, wall, 110))
            .to_vec();
        let rate = paired(&b, &a, Sample::rate).expect("five rounds");
        assert!((rate.median - 0.9).abs() < 0.01, "{rate:?}");
        assert!(
            rate.low <= rate.median && rate.median <= rate.high,
            "{rate:?}"
        );
        let cpu = paired(&b, &a, Sample::cpu_seconds).expect("rounds");
        assert!((cpu.median - 1.1).abs() < 1e-9, "{cpu:?}");
        assert!(paired(&[], &a, Sample::rate).is_none());
    }

    #[test]
    fn paired_spreads_are_the_quartiles() {
        let a: Vec<Sample> = (0..5).map(|_| sample(1000, 1000, 100)).collect();
        let b: Vec<Sample> = [500, 1000, 2000, 4000, 250]
            .map(|wall| sample(1000, wall, 100))
            .to_vec();
        // Rates of b over a: 2, 1, 0.5, 0.25, 4 -> sorted 0.25, 0.5, 1, 2, 4.
        let rate = paired(&b, &a, Sample::rate).expect("rounds");
        assert_eq!((rate.low, rate.median, rate.high), (0.5, 1.0, 2.0));
    }

    #[test]
    fn rotation_starts_each_round_with_a_different_contender() {
        let firsts: Vec<usize> = (0..3).filter_map(|r| rotation(3, r).next()).collect();
        assert_eq!(firsts, vec![0, 1, 2]);
        let mut round: Vec<usize> = rotation(3, 1).collect();
        round.sort_unstable();
        assert_eq!(round, vec![0, 1, 2]);
    }
}
