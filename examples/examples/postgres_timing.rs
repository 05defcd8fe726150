//! Times loading and saving one account in a `PostgresStore` that holds many (100,000 by
//! default): `cargo run --release --example postgres_timing [-- ACCOUNTS] [-- --postgres URL]`.
//!
//! Without `--postgres` it starts a throw-away PostgreSQL (Debian package `postgresql`) in a
//! temporary folder. The numbers include the round trips to the server on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mastodon_auth::store::PostgresStore;
use mastodon_auth::{
    AccessToken, AccountDirectory, ClientSecret, CredentialStore, UserCredentials,
};
use mastodon_auth_tests::PostgresServer;

const SAMPLES: u32 = 2000;

fn account(i: u32) -> Result<UserCredentials, mastodon_auth::Error> {
    Ok(UserCredentials::new(
        "https://e.example".parse()?,
        AccessToken::new(format!("token-{i}")),
    )
    .with_account(format!("user{i}@e.example").parse()?)
    .with_client("client", ClientSecret::new("secret")))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut accounts, mut url) = (100_000u32, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--postgres" => url = args.next(),
            n => accounts = n.parse()?,
        }
    }
    let server = match &url {
        Some(_) => None,
        None => Some(PostgresServer::start()?),
    };
    let url = url.unwrap_or_else(|| server.as_ref().map(PostgresServer::url).unwrap_or_default());
    let store = PostgresStore::builder(&url)
        .profile("timing")
        .connect()
        .await?;

    let store = Arc::new(store);
    let existing = u32::try_from(store.list_users().await?.len())?;
    let fill = Instant::now();
    // Filled by 16 tasks at once on the pool: the time to fill is not what is measured.
    let mut tasks = tokio::task::JoinSet::new();
    for first in 0..16 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for i in (existing + first..accounts).step_by(16) {
                store.save_user(&account(i)?).await?;
            }
            Ok::<(), mastodon_auth::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    println!(
        "{} accounts in the store ({} added in {:.1} s)",
        store.list_users().await?.len(),
        accounts.saturating_sub(existing),
        fill.elapsed().as_secs_f64()
    );

    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(SAMPLES);
    let start = Instant::now();
    for i in 0..SAMPLES {
        let key = format!("user{}@e.example", (i * 7919) % accounts).parse()?;
        store.load_user(&key).await?.ok_or("account missing")?;
    }
    println!("load one account: {:.3} ms", ms(start.elapsed()));
    let start = Instant::now();
    for i in 0..SAMPLES {
        store.save_user(&account((i * 7919) % accounts)?).await?;
    }
    println!(
        "save one account (and make it active): {:.3} ms",
        ms(start.elapsed())
    );
    Ok(())
}
