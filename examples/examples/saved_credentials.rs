//! Log in once, save the credentials in Mastodon.py's two files, then build a new client from
//! the files alone and check that they still work.
//!
//! ```text
//! cargo run --example saved_credentials [-- --instance URL]
//! ```
//! Against a real server this needs existing files: set CLIENTCRED and USERCRED to their paths.

use mastodon_auth::{AuthorizationRequest, LoginGrant, Mastodon, MastodonPyFiles, Scopes};
use mastodon_auth_tests::Approval;

mod setup;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = setup::target().await?;
    let tmp = std::env::temp_dir();
    let pid = std::process::id();
    let client_file = std::env::var("CLIENTCRED").unwrap_or_else(|_| {
        tmp.join(format!("clientcred-{pid}.secret"))
            .display()
            .to_string()
    });
    let user_file = std::env::var("USERCRED").unwrap_or_else(|_| {
        tmp.join(format!("usercred-{pid}.secret"))
            .display()
            .to_string()
    });
    let files = || MastodonPyFiles::new(&client_file, &user_file);

    if let Some(local) = &target.local {
        // Make the files the way a first run would.
        let client = Mastodon::builder(&target.base_url)
            .transport(target.transport.clone())
            .store(files())
            .build()
            .await?;
        client
            .create_app("saved credentials example")
            .scopes(Scopes::default())
            .send()
            .await?;
        let AuthorizationRequest { url, pending, .. } = client.auth_request_url().build().await?;
        let Approval::OutOfBand { code } = local.approve(&url)? else {
            return Err("expected a code".into());
        };
        client
            .log_in(LoginGrant::AuthorizationCode(pending.code(code)))
            .await?;
        client.save_credentials().await?;
        println!("Wrote {client_file} and {user_file}");
    }

    let client = Mastodon::builder(&target.base_url)
        .transport(target.transport)
        .store(files())
        .build()
        .await?;
    match client.account_verify_credentials().await {
        Ok(me) => println!("Successfully authenticated as: {}", me.acct),
        Err(e) => println!("Authentication failed: {e}"),
    }
    if target.local.is_some() {
        std::fs::remove_file(&client_file)?;
        std::fs::remove_file(&user_file)?;
    }
    Ok(())
}
