//! The complete flow with an out-of-band code typed in: register, print the authorization URL,
//! read the code the server shows, exchange it, verify.
//!
//! ```text
//! cargo run --example oauth_flow [-- --instance URL]
//! ```
//! Against the embedded instance, the code it would show is printed too, so you can paste it.

use std::io::BufRead;

use mastodon_auth::{AuthorizationRequest, LoginGrant, Mastodon, Scopes};
use mastodon_auth_tests::Approval;

mod setup;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = setup::target().await?;
    let scopes: Scopes = "read write".parse()?;
    let client = Mastodon::builder(&target.base_url)
        .transport(target.transport)
        .build()
        .await?;
    client
        .create_app("My Bot Application")
        .scopes(scopes.clone())
        .send()
        .await?;

    let AuthorizationRequest { url, pending, .. } =
        client.auth_request_url().scopes(scopes).build().await?;
    println!("Visit this URL to authorize: {url}");
    if let Some(local) = &target.local
        && let Approval::OutOfBand { code } = local.approve(&url)?
    {
        println!("(the local instance shows this code: {code})");
    }
    print!("Enter authorization code: ");
    std::io::Write::flush(&mut std::io::stdout())?;
    let mut code = String::new();
    std::io::stdin().lock().read_line(&mut code)?;

    client
        .log_in(LoginGrant::AuthorizationCode(pending.code(code.trim())))
        .await?;
    let me = client.account_verify_credentials().await?;
    println!("Logged in as: {}", me.acct);
    Ok(())
}
