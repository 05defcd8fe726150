//! The fleet rows: the rate budget shared through Redis against a local pacer and no limiter,
//! and PostgreSQL as the credential store against the accounts file. Throw-away `redis-server`
//! and PostgreSQL come from the test kit (the Debian packages); without them the rows are
//! skipped with a note.

use std::sync::Arc;
use std::time::Duration;

use mastodon_auth_core::{AccessToken, CredentialStore, Mastodon, NoRateLimit, RateLimiter};
use mastodon_auth_ratelimit::{RateLimitMethod, RedisRateLimiter};
use mastodon_auth_store::PostgresStore;
use mastodon_auth_tests::{PostgresServer, RedisServer, ServiceError};
use tokio::task::JoinSet;

use crate::accounts;
use crate::clients::{self, Contender, Target};
use crate::plan::{Plan, QUICK, modes};
use crate::report::{Table, micros};
use crate::runtime::{BoxError, runtime};
use crate::server::ServerProcess;
use crate::stack::{Stack, compare};
use crate::targets;
use crate::throughput::{self, Mode, Sample};

/// Targets of issue 14.
/// Accounts in the stores for the credential-store rows.
const STORE_SIZES: [usize; 2] = [10_000, 100_000];

/// `bench --fleet`: these rows alone, against an instance child of their own.
pub(crate) fn run_alone(plan: Plan) -> Result<(), BoxError> {
    let mut server = ServerProcess::spawn()?;
    let runtime = runtime()?;
    let mut table = Table::default();
    runtime.block_on(async {
        let https = server.target(true);
        let stack = Stack::log_in(&https, |url| server.approve(true, url)).await?;
        fleet_rows(&mut table, &https, &stack.token, plan).await
    })?;
    print!("{}", table.render());
    Ok(())
}

/// The limiter rows (HTTPS, sequential and 64 in flight) and the credential-store rows.
pub(crate) async fn fleet_rows(
    table: &mut Table,
    https: &Target,
    token: &AccessToken,
    plan: Plan,
) -> Result<(), BoxError> {
    if let Some(redis) = started(RedisServer::start(), "RedisRateLimiter", table)? {
        limiter_rows(table, https, token, &redis, plan).await?;
    }
    if let Some(pg) = started(PostgresServer::start(), "PostgresStore", table)? {
        store_rows(table, &pg, plan).await?;
    }
    Ok(())
}

/// The server, or `None` after a note saying what to install.
fn started<T>(
    server: Result<T, ServiceError>,
    rows: &str,
    table: &mut Table,
) -> Result<Option<T>, BoxError> {
    match server {
        Ok(server) => Ok(Some(server)),
        Err(missing @ ServiceError::Missing { .. }) => {
            table.note(format!("fleet, {rows} rows: skipped ({missing})"));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The full client with no limiter, with the local `Pacer`, and with `RedisRateLimiter`, all
/// in wait mode without a client-side quota (as the main rows' pacer), on one token.
pub(crate) async fn limiter_contenders(
    https: &Target,
    token: &AccessToken,
    redis: &RedisServer,
) -> Result<[(&'static str, Contender); 3], BoxError> {
    let transport = https.transport()?;
    let client = |limiter: Arc<dyn RateLimiter>| {
        Mastodon::builder(&https.base_url)
            .transport(transport.clone())
            .shared_rate_limiter(limiter)
            .access_token(token.clone())
            .build()
    };
    let shared = RedisRateLimiter::builder(redis.url(), RateLimitMethod::Wait)
        .without_quota()
        .build()?;
    Ok([
        (
            "no limiter",
            Contender::Full(client(Arc::new(NoRateLimit)).await?),
        ),
        (
            "Pacer (local)",
            Contender::Full(client(Arc::new(clients::unthrottled_pacer())).await?),
        ),
        (
            "RedisRateLimiter",
            Contender::Full(client(Arc::new(shared)).await?),
        ),
    ])
}

/// The rows of [`limiter_contenders`], and Redis's own counts for the last one.
async fn limiter_rows(
    table: &mut Table,
    https: &Target,
    token: &AccessToken,
    redis: &RedisServer,
    plan: Plan,
) -> Result<(), BoxError> {
    let contenders = limiter_contenders(https, token, redis).await?;
    let redis_client = contenders[2].1.clone();
    let mut info = redis::Client::open(redis.url())?
        .get_multiplexed_async_connection()
        .await?;
    for (mode, n) in modes(plan) {
        eprintln!("fleet limiters, {mode:?}…");
        let results = compare(&contenders, None, mode, n, plan).await?;
        table.heading(format!(
            "fleet: rate limiters (wait, no client quota), HTTPS, {mode}, {n} requests per \
             block; redis-server in its own process, its CPU not counted"
        ));
        let none = results
            .iter()
            .find(|(name, _)| *name == "no limiter")
            .map(|(_, samples)| samples.as_slice());
        for (name, samples) in &results {
            let Some((rate, cpu)) = throughput::medians(samples) else {
                continue;
            };
            // Like b/a: the ratio within each round, its median over the rounds.
            let ratio = none.and_then(|none| throughput::paired(samples, none, Sample::rate));
            let shown = ratio.map_or_else(String::new, |r| {
                format!(
                    "{:.3} of no limiter (middle half {:.3}–{:.3})",
                    r.median, r.low, r.high
                )
            });
            let (target, verdict) = match (*name, mode, ratio) {
                ("RedisRateLimiter", Mode::InFlight(_), Some(r)) => (
                    format!("≥ {} of none", targets::REDIS_RATE_VS_NONE),
                    Some(r.median >= targets::REDIS_RATE_VS_NONE),
                ),
                _ => (String::new(), None),
            };
            table.line(
                &format!("  {name}"),
                format!("{rate:>9.0} req/s"),
                format!("{:>7.1} µs CPU/req  {shown}", micros(cpu)),
                &target,
                verdict,
            );
        }
        // Counted on a block of its own, in which only the Redis contender talks to Redis.
        let before = RedisCounts::read(&mut info).await?;
        throughput::block(&redis_client, mode, n).await?;
        let after = RedisCounts::read(&mut info).await?;
        let per_request = |count: fn(&RedisCounts) -> u64| {
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            let delta = count(&after).saturating_sub(count(&before)) as f64;
            delta / throughput::count_f64(n)
        };
        let round_trips = per_request(|c| c.scripts);
        let server_cpu = (after.cpu.saturating_sub(before.cpu)).div_f64(throughput::count_f64(n));
        table.line(
            "  RedisRateLimiter: Redis round trips per request",
            format!("{round_trips:>9.3}"),
            format!(
                "script calls; inside Redis {:.1} commands, {:.1} µs redis-server CPU per request",
                per_request(|c| c.inside_scripts),
                micros(server_cpu)
            ),
            &format!("≤ {}", targets::REDIS_ROUND_TRIPS_PER_REQUEST),
            Some(round_trips <= targets::REDIS_ROUND_TRIPS_PER_REQUEST),
        );
    }
    Ok(())
}

/// What Redis has run so far, from `INFO commandstats`.
struct RedisCounts {
    /// Script calls (`EVALSHA`, `EVAL`, `SCRIPT LOAD`): the limiter sends nothing else, one
    /// command per round trip.
    scripts: u64,
    /// Every other command but `INFO`: those the scripts run inside Redis.
    inside_scripts: u64,
    /// redis-server's CPU time (user and system).
    cpu: Duration,
}

impl RedisCounts {
    async fn read(connection: &mut redis::aio::MultiplexedConnection) -> Result<Self, BoxError> {
        let info: String = redis::cmd("INFO")
            .arg("cpu")
            .arg("commandstats")
            .query_async(connection)
            .await?;
        let mut counts = Self {
            scripts: 0,
            inside_scripts: 0,
            cpu: Duration::ZERO,
        };
        for line in info.lines() {
            // `used_cpu_user:1.234567` (seconds)
            if let Some(secs) = line
                .strip_prefix("used_cpu_user:")
                .or_else(|| line.strip_prefix("used_cpu_sys:"))
            {
                counts.cpu += Duration::try_from_secs_f64(secs.trim().parse()?)?;
                continue;
            }
            // `cmdstat_evalsha:calls=5,usec=80,usec_per_call=16.00,…`
            let Some((name, stats)) = line
                .strip_prefix("cmdstat_")
                .and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            let calls: u64 = stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))
                .ok_or("Redis's commandstats line has no calls=")?
                .parse()?;
            match name {
                "info" => {}
                "evalsha" | "eval" | "script" | "script|load" => counts.scripts += calls,
                _ => counts.inside_scripts += calls,
            }
        }
        Ok(counts)
    }
}

/// `PostgresStore` load and save of one account among 10,000 and 100,000, against
/// `AccountsFile` with as many.
async fn store_rows(table: &mut Table, pg: &PostgresServer, plan: Plan) -> Result<(), BoxError> {
    let ops = if plan.sequential <= QUICK.sequential {
        200
    } else {
        2_000
    };
    let store = Arc::new(
        PostgresStore::builder(pg.url())
            .profile("bench")
            .connect()
            .await?,
    );
    let dir = tempfile::Builder::new()
        .prefix("mastodon-auth-bench-fleet-")
        .tempdir()?;
    table.heading(format!(
        "fleet: credential stores, load_user / save_user of one account, per operation \
         (PostgreSQL on loopback in its own process, {ops} operations; AccountsFile: {} \
         operations)",
        accounts::FILE_OPS
    ));
    let mut filled = 0;
    for size in STORE_SIZES {
        eprintln!("fleet stores, {size} accounts…");
        fill(&store, filled, size).await?;
        filled = size;
        let load = accounts::timed(ops, |n| {
            let store = &store;
            async move {
                let u = accounts::user(n * 7919 % size)?;
                let key = u.account.ok_or("a generated user has no account")?;
                match store.load_user(&key).await? {
                    Some(found) if found.access_token == u.access_token => Ok(()),
                    _ => Err("a saved account did not load back".into()),
                }
            }
        })
        .await;
        // Saved as generated (a save costs the same whatever the token), so that the
        // loads at the next size still find what they expect.
        let save = accounts::timed(ops, |n| {
            let store = &store;
            async move {
                let u = accounts::user(n * 104_729 % size)?;
                store.save_user(&u).await.map_err(BoxError::from)
            }
        })
        .await;
        let file = accounts::accounts_file(&dir.path().join("accounts.json"), size).await?;
        store_lines(table, size, "load_user", &load, &file.load);
        store_lines(table, size, "save_user", &save, &file.save);
    }
    Ok(())
}

/// One operation at one size: PostgreSQL's time per operation, the file's beside it.
fn store_lines(
    table: &mut Table,
    size: usize,
    op: &str,
    postgres: &Result<Duration, String>,
    accounts_file: &Result<Duration, String>,
) {
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let versus = match accounts_file {
        Ok(d) => format!("AccountsFile {:.2} ms", ms(d)),
        Err(e) => format!("AccountsFile refused: {e}"),
    };
    let label = format!("  PostgresStore, {size} accounts: {op}");
    match postgres {
        Ok(d) => table.line(
            &label,
            format!("{:>9.3} ms", ms(d)),
            versus,
            &format!("< {} ms", targets::STORE_OP_MS),
            Some(ms(d) < targets::STORE_OP_MS),
        ),
        Err(e) => table.line(&label, "   failed".to_owned(), e.clone(), "", Some(false)),
    }
}

/// Saves the generated accounts `from..to`, sixteen at a time (the fill is not measured).
async fn fill(store: &Arc<PostgresStore>, from: usize, to: usize) -> Result<(), BoxError> {
    let mut tasks = JoinSet::new();
    for first in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in (from + first..to).step_by(16) {
                store.save_user(&accounts::user(i)?).await?;
            }
            Ok::<(), BoxError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
