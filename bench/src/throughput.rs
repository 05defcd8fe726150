//! Requests per second and CPU per request, contenders interleaved in rounds.

use std::fmt;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::BoxError;
use crate::clients::{Contender, Python};
use crate::cpu::process_cpu;

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
    fn rotation_starts_each_round_with_a_different_contender() {
        let firsts: Vec<usize> = (0..3).filter_map(|r| rotation(3, r).next()).collect();
        assert_eq!(firsts, vec![0, 1, 2]);
        let mut round: Vec<usize> = rotation(3, 1).collect();
        round.sort_unstable();
        assert_eq!(round, vec![0, 1, 2]);
    }
}
