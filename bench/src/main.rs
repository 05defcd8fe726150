//! Performance of the mastodon-auth stack against the local instance, in one run, printed as
//! one table with PASS/MISS against the project's targets.
//!
//! ```text
//! cargo run --release -p mastodon-auth-bench                      # (a), (b), Mastodon.py
//! cargo run --release -p mastodon-auth-bench --features megalodon # adds (c) megalodon
//! cargo run --release -p mastodon-auth-bench -- --quick           # a smoke run
//! cargo run --release -p mastodon-auth-bench -- --micro           # per-request parts
//! cargo run --release -p mastodon-auth-bench -- --fleet           # the fleet rows alone
//! cargo run --profile profiling -p mastodon-auth-bench -- --profile full https seq
//!                                              # one contender for 20 s, for `perf record -p`
//!                                              # (bare, bare+json, bare+timeout, transport,
//!                                              # full; https or http; seq or 64)
//! valgrind --tool=callgrind target/profiling/bench --profile full http seq 2
//!                                              # exactly 2 blocks of 5,000 requests: the
//!                                              # difference between 2 and 4 blocks is the
//!                                              # instruction count of 10,000 requests
//! ```
//!
//! What it measures:
//! - authenticated `GET /api/v1/accounts/verify_credentials` per second and client CPU per
//!   request, sequential and with 64 in flight, for (a) a bare hyper-util client with the same
//!   TLS setup, (a′) the same client parsing the answer with `serde_json` into the `Account`
//!   the full stack returns (what a user would write by hand; b/a′ CPU has a target of its
//!   own), (b) the full stack
//!   (`Mastodon` + `HyperTransport` + `Pacer` in wait mode without quota + JSON parsing), (c)
//!   megalodon 1.3 (feature `megalodon`) and Mastodon.py (when
//!   `python3 -c "import mastodon"` works). The instances run in a child process (this
//!   binary in the `server` role), so the CPU times are the client's alone. Contenders take
//!   turns block by block in rotated order; each contender's median over the rounds is
//!   reported, and b/a as the median of the ratios taken within each round.
//!   megalodon cannot trust a custom CA (reqwest with webpki roots only), so the comparison
//!   with it and with Mastodon.py runs over plain HTTP, where (a) and (b) run again;
//! - pace efficiency: the full client in `pace` mode against 300 requests per 3-second window;
//! - cold start: a fresh process that builds an HTTPS client and verifies the account once;
//! - 10,000 accounts: `AccountsFile` load/save, `MemoryStore` and `Pacer` heap per account
//!   (counted by this binary's global allocator, in a child process of its own);
//! - fleets (`fleet.rs`): `RedisRateLimiter` against the local `Pacer` and no limiter, and
//!   `PostgresStore` load/save at 10,000 and 100,000 accounts against `AccountsFile`, on
//!   throw-away `redis-server` and PostgreSQL (skipped with a note when not installed).
//!
//! The whole run takes well under 5 minutes on 2 cores (build time aside).
//!
//! This file runs the rows; `plan.rs` says how much each sends, `stack.rs` holds the
//! contenders and their rounds, `report.rs` the table and `targets.rs` what PASS means.

mod accounts;
mod alloc;
mod child;
mod clients;
mod coldstart;
mod cpu;
mod fleet;
mod micro;
mod pace;
mod plan;
mod report;
mod runtime;
mod server;
mod stack;
mod targets;
mod throughput;

use std::process::ExitCode;
use std::time::Duration;

use child::ROLE_ENV;
use clients::{Contender, Python, Target};
use plan::{COLD_STARTS, FLEET, FULL, IN_FLIGHT, Plan, QUICK, modes};
use report::{Table, micros};
use runtime::{BoxError, runtime};
use stack::{Stack, compare};
use throughput::Mode;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The (a′) row: the bare client parsing the answer as a user would by hand; b/a′ CPU is
/// measured against it.
const PARSED_LABEL: &str = "(a′) bare + serde_json into the same account struct";

fn main() -> ExitCode {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("server") => server::serve(),
        Ok("coldstart") => coldstart::child(),
        Ok("accounts") => accounts::child(),
        Ok(other) => {
            eprintln!(
                "bench: unknown {ROLE_ENV}={other:?} (expected server, coldstart or accounts)"
            );
            ExitCode::FAILURE
        }
        Err(_) => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            let result = match args.as_slice() {
                [] => run(FULL, FLEET),
                [q] if q == "--quick" => run(QUICK, QUICK),
                [p, who, scheme, mode] if p == "--profile" => profile(who, scheme, mode, None),
                [p, who, scheme, mode, blocks] if p == "--profile" => match blocks.parse() {
                    Ok(n) => profile(who, scheme, mode, Some(n)),
                    Err(_) => Err(format!("not a number of blocks: {blocks:?}").into()),
                },
                [m] if m == "--micro" => micro(),
                [f] if f == "--fleet" => fleet::run_alone(FLEET),
                _ => {
                    eprintln!(
                        "usage: bench [--quick | --micro | --fleet | --profile WHO[,WHO…] https|http seq|64 [BLOCKS]]  (WHO: bare, bare+json, bare+timeout, transport, full, megalodon, limiter:no|pacer|redis)"
                    );
                    return ExitCode::FAILURE;
                }
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bench failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The whole table: throughput rows with `plan`, fleet rows with `fleet`.
fn run(plan: Plan, fleet: Plan) -> Result<(), BoxError> {
    eprintln!("starting the instances in a child process…");
    let mut server = server::ServerProcess::spawn()?;
    let runtime = runtime()?;
    let mut table = Table::default();
    runtime.block_on(async {
        let https = server.target(true);
        let http = server.target(false);
        let https_stack = Stack::log_in(&https, |url| server.approve(true, url)).await?;
        let http_stack = Stack::log_in(&http, |url| server.approve(false, url)).await?;
        table.note(format!(
            "GET /api/v1/accounts/verify_credentials, LocalInstance in a child process, CPU = this \
             (client) process only; median of {} rounds, contenders interleaved; b/a is the \
             median of the ratios within each round, the middle half of the rounds beside it",
            plan.rounds
        ));
        https_rows(&mut table, &https_stack, plan).await?;
        http_rows(&mut table, &http, &http_stack, plan).await?;
        pace_rows(&mut table).await?;
        fleet::fleet_rows(&mut table, &https, &https_stack.token, fleet).await?;
        cold_start_row(&mut table, &https, &https_stack)
    })?;
    drop(server);
    eprintln!("accounts…");
    let report = accounts::run_child()?;
    table.accounts(&report);
    print!("{}", table.render());
    Ok(())
}

/// (a) against (b) over HTTPS, with the rows that split the gap between them.
async fn https_rows(table: &mut Table, stack: &Stack, plan: Plan) -> Result<(), BoxError> {
    table.note(
        "Indented rows split the gap between (a) and (b): (a) inside a 300 s \
         tokio::time::timeout, and HyperTransport::send without the client (no pacer, no JSON)"
            .to_owned(),
    );
    let proto = stack.bare_version().await?;
    let bare_timeout = match &stack.bare {
        Contender::Bare(bare) => Contender::BareWithTimeout(bare.clone()),
        other => other.clone(),
    };
    let contenders = vec![
        ("(a) bare hyper-util", stack.bare.clone()),
        (PARSED_LABEL, stack.bare_parsed()),
        ("  (a) in tokio::time::timeout", bare_timeout),
        ("  HyperTransport::send only", stack.transport.clone()),
        ("(b) mastodon-auth full stack", stack.full.clone()),
    ];
    for (mode, n) in modes(plan) {
        eprintln!("HTTPS {mode:?}…");
        let results = compare(&contenders, None, mode, n, plan).await?;
        table.throughput(&format!("HTTPS ({proto:?}, TLS)"), mode, n, &results, true);
    }
    Ok(())
}

/// (a) and (b) again over plain HTTP, where megalodon and Mastodon.py can run too.
async fn http_rows(
    table: &mut Table,
    http: &Target,
    stack: &Stack,
    plan: Plan,
) -> Result<(), BoxError> {
    let proto = stack.bare_version().await?;
    #[cfg_attr(not(feature = "megalodon"), allow(unused_mut))]
    let mut contenders = vec![
        ("(a) bare hyper-util", stack.bare.clone()),
        (PARSED_LABEL, stack.bare_parsed()),
        ("(b) mastodon-auth full stack", stack.full.clone()),
    ];
    #[cfg(feature = "megalodon")]
    contenders.push(("(c) megalodon 1.3", clients::megalodon(http, &stack.token)?));
    let mut python = if clients::python_available() {
        Some(Python::start(&http.base_url, &stack.token)?)
    } else {
        None
    };
    for (mode, n) in modes(plan) {
        eprintln!("HTTP {mode:?}…");
        let py = if mode == Mode::Sequential {
            python.as_mut()
        } else {
            None
        };
        let results = compare(&contenders, py, mode, n, plan).await?;
        table.throughput(
            &format!("plain HTTP ({proto:?}), for megalodon/Mastodon.py"),
            mode,
            n,
            &results,
            false,
        );
    }
    if !cfg!(feature = "megalodon") {
        table.note("(c) megalodon: not built; add `--features megalodon` to include it".to_owned());
    }
    if !clients::python_available() {
        table.note(format!(
            "Mastodon.py: skipped, `python3 -c \"import mastodon\"` fails; install with `{}`",
            clients::PYTHON_HINT
        ));
    }
    Ok(())
}

/// Pace efficiency on 30 s windows (the target) and on 3 s windows (for information).
async fn pace_rows(table: &mut Table) -> Result<(), BoxError> {
    eprintln!("pace…");
    let compressed = Duration::from_secs(3);
    for run in [
        pace::PaceRun {
            window: Duration::from_secs(30),
            keep_date: true,
        },
        pace::PaceRun {
            window: compressed,
            keep_date: true,
        },
        pace::PaceRun {
            window: compressed,
            keep_date: false,
        },
    ] {
        eprintln!("pace, {:?} windows…", run.window);
        let result = pace::run(run).await?;
        table.pace(&result, run.window == compressed);
    }
    Ok(())
}

/// A fresh process building an HTTPS client and verifying the account once.
fn cold_start_row(table: &mut Table, https: &Target, stack: &Stack) -> Result<(), BoxError> {
    eprintln!("cold start…");
    let ca_dir = tempfile::Builder::new()
        .prefix("mastodon-auth-bench-ca-")
        .tempdir()?;
    let ca_file = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_file, &https.ca_pem)?;
    table.cold_start(&cold_starts(&https.base_url, &ca_file, &stack.token)?);
    Ok(())
}

/// Times the client's per-request pieces alone (see `micro.rs`).
fn micro() -> Result<(), BoxError> {
    let mut server = server::ServerProcess::spawn()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rows = runtime.block_on(async {
        let target = server.target(true);
        let stack = Stack::log_in(&target, |url| server.approve(true, url)).await?;
        micro::run(&target, &stack.token).await
    })?;
    for (what, took) in rows {
        if took.is_zero() {
            println!("{what}");
        } else {
            println!("{:>9.0} ns  {what}", took.as_secs_f64() * 1e9);
        }
    }
    Ok(())
}

/// Runs one contender alone for about 20 seconds (for `perf record -p`), or for exactly
/// `blocks` blocks (for callgrind, whose counts are only comparable for equal work), printing
/// its rate after each block. Several contenders, comma-separated, take turns block by block:
/// a quick A/B on one server, with the same order in every round.
fn profile(who: &str, scheme: &str, mode: &str, blocks: Option<usize>) -> Result<(), BoxError> {
    let mode = match mode {
        "seq" => Mode::Sequential,
        "64" => Mode::InFlight(IN_FLIGHT),
        other => return Err(format!("unknown mode {other:?}: seq or 64").into()),
    };
    let mut server = server::ServerProcess::spawn()?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let https = match scheme {
            "https" => true,
            "http" => false,
            other => return Err(format!("unknown scheme {other:?}: https or http").into()),
        };
        let target = server.target(https);
        let stack = Stack::log_in(&target, |url| server.approve(https, url)).await?;
        // The fleet's limiters, when asked for: the Redis server lives as long as the run.
        let redis = who
            .contains("limiter:")
            .then(mastodon_auth_tests::RedisServer::start)
            .transpose()?;
        let limiters = match &redis {
            Some(redis) => Some(fleet::limiter_contenders(&target, &stack.token, redis).await?),
            None => None,
        };
        let contenders = who
            .split(',')
            .map(|who| {
                let contender = match (who.strip_prefix("limiter:"), &limiters) {
                    (Some(name), Some(limiters)) => limiters
                        .iter()
                        .find(|(label, _)| label.to_lowercase().starts_with(name))
                        .map(|(_, c)| c.clone())
                        .ok_or_else(|| format!("unknown limiter {name:?}: no, pacer or redis"))?,
                    _ => stack.contender(who, &target)?,
                };
                Ok((who, contender))
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        eprintln!("profiling pid {}", std::process::id());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut done = 0;
        while blocks.map_or(std::time::Instant::now() < deadline, |n| done < n) {
            done += 1;
            for (who, contender) in &contenders {
                let s = throughput::block(contender, mode, FULL.sequential).await?;
                eprintln!(
                    "{who:>12}: {:.0} req/s, {:.1} µs CPU/req",
                    s.rate(),
                    micros(s.cpu_per_request())
                );
            }
        }
        Ok::<(), BoxError>(())
    })
}

fn cold_starts(
    url: &str,
    ca_file: &std::path::Path,
    token: &mastodon_auth_core::AccessToken,
) -> Result<Vec<(Duration, u64)>, BoxError> {
    coldstart::measure(url, ca_file, token)?;
    (0..COLD_STARTS)
        .map(|_| coldstart::measure(url, ca_file, token))
        .collect()
}
