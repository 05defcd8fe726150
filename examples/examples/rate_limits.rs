//! Rate-limit handling: `throw` returns a 429 as an error, `wait` sleeps through it, `pace`
//! spreads requests so the limit is never hit.
//!
//! ```text
//! cargo run --example rate_limits
//! ```
//! Runs against the embedded instance with a small limit (5 requests per 2 seconds).

use std::time::{Duration, Instant};

use mastodon_auth::{Error, HyperTransport, LoginGrant, Mastodon, Pacer, RateLimitMethod};
use mastodon_auth_tests::LocalInstance;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local = LocalInstance::builder()
        .rate_limit(5, Duration::from_secs(2))
        .start()
        .await?;
    let transport = HyperTransport::builder()
        .add_root_pem(local.ca_certificate_pem().as_bytes())
        .build()?;

    // An app token is enough for /api/v1/apps/verify_credentials.
    let setup = Mastodon::builder(local.base_url())
        .transport(transport.clone())
        .build()
        .await?;
    let app = setup
        .create_app("rate limit example")
        .scopes("read".parse()?)
        .send()
        .await?;
    let token = setup
        .log_in(LoginGrant::ClientCredentials {
            scopes: "read".parse()?,
        })
        .await?;

    for method in [
        RateLimitMethod::Throw,
        RateLimitMethod::Wait,
        RateLimitMethod::pace(1.1)?,
    ] {
        // No client-side quota, so what the client meets is the server's limit.
        let client = Mastodon::builder(local.base_url())
            .client(app.client_id.clone(), app.client_secret.clone())
            .access_token(token.clone())
            .transport(transport.clone())
            .rate_limiter(Pacer::new(method).without_quota())
            .build()
            .await?;
        let started = Instant::now();
        let mut outcome = String::from("all 8 requests succeeded");
        for i in 0..8 {
            match client.app_verify_credentials().await {
                Ok(_) => {}
                Err(Error::RateLimit(e)) => {
                    outcome = format!("request {} was refused: {e}", i + 1);
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        println!(
            "{method:?}: {outcome} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // Let the window pass so each method starts fresh.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    local.shutdown().await;
    Ok(())
}
