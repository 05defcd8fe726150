//! Two workers share one account: its credentials live in PostgreSQL (so a token refresh
//! happens once between them, however many workers meet the expiry) and its rate budget in
//! Redis (so together they spend the server's limit once, not once each).
//!
//! ```text
//! cargo run --example fleet -- --postgres postgres://USER:PASSWORD@HOST/DB --redis redis://HOST:6379 [--instance URL]
//! ```
//!
//! By default the instance is the embedded local one, playing a Pleroma server whose tokens
//! expire after 35 seconds: the client refreshes a token 30 seconds before it expires, so the
//! workers meet a refresh about five seconds in. With `--instance URL`, the account is the one
//! the database's `fleet-example` profile has active (save it there first with
//! `Mastodon::save_credentials` on a client built with this store).
//!
//! Each worker connects to the database and to Redis and builds its own client, as a worker
//! on another machine would; here they are two tasks of one process, for brevity.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mastodon_auth::ratelimit::{RedisRateLimiter, Unreachable};
use mastodon_auth::store::PostgresStore;
use mastodon_auth::{
    AccessToken, CredentialStore, LoginGrant, Mastodon, Password, RateLimitKey, RateLimitMethod,
    RateLimiter,
};
use mastodon_auth_tests::{LocalInstance, Profile};

mod setup;

/// The profile whose active account the workers use.
const PROFILE: &str = "fleet-example";

/// How long each worker runs.
const RUN: Duration = Duration::from_secs(8);

const HOW_TO_GET_THEM: &str = "\
This example needs a PostgreSQL database and a Redis server, given as
  cargo run --example fleet -- --postgres postgres://USER:PASSWORD@HOST/DB --redis redis://HOST:6379

To run both on this machine:
  Debian or Ubuntu:  sudo apt-get install postgresql redis-server
                     sudo -u postgres createuser --superuser \"$USER\" && createdb fleet
                     then --postgres \"postgres://$USER@localhost/fleet?host=/var/run/postgresql\" --redis redis://127.0.0.1:6379
  Docker:            docker run -d -p 5432:5432 -e POSTGRES_PASSWORD=fleet postgres
                     docker run -d -p 6379:6379 redis
                     then --postgres postgres://postgres:fleet@127.0.0.1/postgres --redis redis://127.0.0.1:6379

The example creates its own tables in that database (mastodon_auth_*).";

struct Args {
    postgres: String,
    redis: String,
    instance: Option<String>,
}

/// `None` when `--postgres` or `--redis` is missing.
fn args() -> Result<Option<Args>, String> {
    let (mut postgres, mut redis, mut instance) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--postgres" => &mut postgres,
            "--redis" => &mut redis,
            "--instance" => &mut instance,
            other => return Err(format!("unknown argument {other:?}")),
        };
        *slot = Some(args.next().ok_or(format!("{flag} needs a value"))?);
    }
    Ok(match (postgres, redis) {
        (Some(postgres), Some(redis)) => Some(Args {
            postgres,
            redis,
            instance,
        }),
        _ => None,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{HOW_TO_GET_THEM}");
            return ExitCode::SUCCESS;
        }
        Err(usage) => {
            eprintln!("{usage}\n\n{HOW_TO_GET_THEM}");
            return ExitCode::FAILURE;
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let store = PostgresStore::builder(&args.postgres)
        .profile(PROFILE)
        .connect()
        .await
        .map_err(|e| format!("cannot use the PostgreSQL database: {e}\n\n{HOW_TO_GET_THEM}"))?;
    // The limiter would pace locally while Redis is away; ask it to fail instead, once, to
    // find out whether Redis is there.
    RedisRateLimiter::builder(&args.redis, RateLimitMethod::Wait)
        .when_unreachable(Unreachable::Fail)
        .build()?
        .before_request(RateLimitKey::ANONYMOUS)
        .await
        .map_err(|e| format!("cannot use the Redis server: {e}\n\n{HOW_TO_GET_THEM}"))?;

    let target = setup::target_at(
        args.instance.clone(),
        LocalInstance::builder()
            .profile(Profile::Pleroma)
            .token_lifetime(Duration::from_secs(35)),
    )
    .await?;
    if let Some(local) = &target.local {
        // The first run's log-in, saved in the database for the workers.
        let client = Mastodon::builder(&target.base_url)
            .transport(target.transport.clone())
            .store(store)
            .skip_stored_user()
            .build()
            .await?;
        client
            .create_app("fleet example")
            .scopes("read".parse()?)
            .send()
            .await?;
        let user = local.user();
        client
            .log_in(LoginGrant::Password {
                username: user.email.clone(),
                password: Password::new(user.password.clone()),
                scopes: "read".parse()?,
            })
            .await?;
        let saved = client.save_credentials().await?;
        println!(
            "Logged in as {} and saved the credentials in PostgreSQL",
            saved.account.map(|a| a.to_string()).unwrap_or_default()
        );
    } else if store.load_active_user().await?.is_none() {
        return Err(format!(
            "The database has no active account for the profile {PROFILE:?}: save one there \
             first (Mastodon::save_credentials on a client built with this store)."
        )
        .into());
    }

    let workers: Vec<_> = (1..=2)
        .map(|n| {
            let (args, base_url, transport) = (
                (args.postgres.clone(), args.redis.clone()),
                target.base_url.clone(),
                target.transport.clone(),
            );
            tokio::spawn(async move { worker(n, &args.0, &args.1, &base_url, transport).await })
        })
        .collect();
    let mut requests = 0;
    for worker in workers {
        requests += worker.await??;
    }
    println!(
        "{requests} requests from the two workers together in {} s: one budget for the token, \
         shared through Redis (by default Mastodon's 300 requests per 5 minutes, spread out).",
        RUN.as_secs()
    );
    if let Some(local) = &target.local {
        let refreshes = local
            .requests()
            .iter()
            .filter(|r| r.form("grant_type") == Some("refresh_token"))
            .count();
        println!("The server saw {refreshes} token refresh(es) for the two workers.");
    }
    Ok(())
}

/// One worker: its own database pool, rate limiter and client, verifying the account again
/// and again for [`RUN`]; says when its token changes, and returns how many requests it made.
async fn worker(
    n: u32,
    postgres: &str,
    redis: &str,
    base_url: &str,
    transport: mastodon_auth::HyperTransport,
) -> Result<u32, String> {
    let store = PostgresStore::builder(postgres)
        .profile(PROFILE)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let limiter = RedisRateLimiter::builder(redis, RateLimitMethod::Wait)
        .build()
        .map_err(|e| e.to_string())?;
    let client = Mastodon::builder(base_url)
        .transport(transport)
        .store(store)
        .rate_limiter(limiter)
        .build()
        .await
        .map_err(|e| format!("worker {n}: {e}"))?;
    let mut token = client.access_token();
    let (started, mut requests) = (Instant::now(), 0);
    println!("worker {n}: started with token {}", label(token.as_ref()));
    while started.elapsed() < RUN {
        let me = client
            .account_verify_credentials()
            .await
            .map_err(|e| format!("worker {n}: {e}"))?;
        requests += 1;
        if client.access_token() != token {
            token = client.access_token();
            println!(
                "worker {n}: now on token {} (as {})",
                label(token.as_ref()),
                me.acct
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("worker {n}: {requests} requests, all answered");
    Ok(requests)
}

/// A token's rate-limit key: tells tokens apart without showing any of them.
fn label(token: Option<&AccessToken>) -> String {
    token.map_or_else(
        || "(none)".to_owned(),
        |t| format!("#{:08x}", RateLimitKey::for_token(t).id() >> 32),
    )
}
