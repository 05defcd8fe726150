//! Telling errors apart: an invalid token, an unreachable server, a rate limit, a bad URL.
//!
//! ```text
//! cargo run --example error_handling [-- --instance URL]
//! ```

use mastodon_auth::{Error, Mastodon};

mod setup;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = setup::target().await?;
    let client = Mastodon::builder(&target.base_url)
        .access_token("invalid_token")
        .transport(target.transport.clone())
        .build()
        .await?;
    report(
        "invalid token",
        client.account_verify_credentials().await.map(|_| ()),
    );

    // Port 9 on loopback: nothing listens there.
    let offline = Mastodon::builder("https://127.0.0.1:9")
        .transport(target.transport.clone())
        .build()
        .await?;
    report(
        "unreachable server",
        offline.account_verify_credentials().await.map(|_| ()),
    );

    report(
        "bad URL",
        Mastodon::builder("ftp://example.com")
            .transport(target.transport)
            .build()
            .await
            .map(|_| ()),
    );
    Ok(())
}

fn report(what: &str, result: Result<(), Error>) {
    match result {
        Ok(()) => println!("{what}: no error"),
        Err(e) if e.is_unauthorized() => println!("{what}: invalid or expired access token ({e})"),
        Err(Error::Network(e)) => println!("{what}: network connection failed ({e})"),
        Err(Error::RateLimit(e)) => println!("{what}: rate limited, wait before retrying ({e})"),
        Err(Error::Api(e)) => println!("{what}: API error {} ({e})", e.status),
        Err(e) if e.is_invalid_input() => println!("{what}: fix the input ({e})"),
        Err(e) => println!("{what}: {e}"),
    }
}
