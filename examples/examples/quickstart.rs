//! The whole flow, step by step: register an app, authorize with PKCE and state, log in,
//! verify, persist, reload, revoke.
//!
//! ```text
//! cargo run --example quickstart                       # against the embedded local instance
//! cargo run --example quickstart -- --instance URL     # against a real server (a browser opens)
//! ```

use std::time::Duration;

use mastodon_auth::loopback::{CallbackListener, REGISTERED_REDIRECT_URI};
use mastodon_auth::{
    AccountsFile, AuthorizationRequest, Error, LoginGrant, Mastodon, Pacer, RateLimitMethod,
    RedirectUri, Scopes, browser,
};
use mastodon_auth_tests::Approval;

mod setup;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

// The ten steps read top to bottom, as the tutorial they are.
#[allow(clippy::too_many_lines)]
async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let target = setup::target().await?;
    match &target.local {
        Some(_) => println!(
            "0. Started a local Mastodon-compatible instance at {} (HTTPS, test CA)",
            target.base_url
        ),
        None => println!("0. Using the instance at {}", target.base_url),
    }
    // Removed when dropped, also when a step fails: the file holds the account's tokens.
    let dir = tempfile::Builder::new()
        .prefix("mastodon-auth-quickstart-")
        .tempdir()?;
    let store = std::sync::Arc::new(AccountsFile::open(dir.path().join("accounts.json")));
    let scopes: Scopes = "read write profile".parse()?;
    let client = Mastodon::builder(&target.base_url)
        .transport(target.transport.clone())
        .rate_limiter(Pacer::new(RateLimitMethod::Wait))
        .shared_store(store.clone())
        .build()
        .await?;

    let app = client
        .create_app("mastodon-auth quickstart")
        .scopes(scopes.clone())
        .redirect_uris([RedirectUri::OOB, REGISTERED_REDIRECT_URI])
        .send()
        .await?;
    println!(
        "1. Registered the app: client id {} (the secret stays private)",
        app.client_id
    );

    match client.oauth_authorization_server_info().await? {
        Some(info) => println!(
            "2. Discovered the server's OAuth metadata: grants {:?}, PKCE S256 {}",
            info.grant_types_supported.clone().unwrap_or_default(),
            if info.supports_pkce_s256() {
                "supported"
            } else {
                "not supported"
            }
        ),
        None => {
            println!(
                "2. The server has no OAuth metadata; using /oauth/authorize and /oauth/token"
            );
        }
    }

    let listener = CallbackListener::bind().await?;
    let AuthorizationRequest { url, pending, .. } = client
        .auth_request_url()
        .scopes(scopes.clone())
        .redirect_uri(listener.redirect_uri())
        .build()
        .await?;
    println!(
        "3. Authorization URL (state {} chars, PKCE {}):\n   {url}",
        pending.state().as_str().len(),
        pending.uses_pkce()
    );
    // The listener ends its wait only for a callback with this request's state.
    let waiting = tokio::spawn(listener.wait_for(pending, Duration::from_secs(300)));
    match &target.local {
        Some(local) => {
            let Approval::Redirect(location) = local.approve(&url)? else {
                return Err("the local instance did not redirect".into());
            };
            println!(
                "4. Signed in as {} and approved; the browser is sent back to the loopback listener",
                local.user().username
            );
            mastodon_auth_tests::visit_loopback(&location).await?;
        }
        None => match browser::open(&url).await {
            Ok(()) => println!("4. Opened your browser: approve the request there"),
            Err(e) => println!("4. {e}: open the URL above in a browser and approve the request"),
        },
    }
    let code = waiting.await??;
    println!(
        "5. The callback's state matches the request; exchanging the code and the PKCE verifier"
    );

    client.log_in(LoginGrant::AuthorizationCode(code)).await?;
    println!(
        "6. Logged in; granted scopes: {}",
        client
            .granted_scopes()
            .map(|s| s.to_string())
            .unwrap_or_default()
    );

    let account = client.account_verify_credentials().await?;
    let app_info = client.app_verify_credentials().await?;
    println!(
        "7. Verified: account @{} ({}), app \"{}\"",
        account.acct, account.display_name, app_info.name
    );
    match client.oauth_userinfo().await {
        Ok(info) => println!("   userinfo: sub {}", info.sub),
        Err(e) => println!("   userinfo not available here: {e}"),
    }

    let saved = client.save_credentials().await?;
    println!(
        "8. Saved {} to {}",
        saved.account.map(|a| a.to_string()).unwrap_or_default(),
        store.path().display()
    );

    let reloaded = Mastodon::builder(&target.base_url)
        .transport(target.transport.clone())
        .shared_store(store.clone())
        .build()
        .await?;
    let again = reloaded.account_verify_credentials().await?;
    println!(
        "9. A new client loaded the account from the file: still @{}",
        again.acct
    );

    reloaded.revoke_access_token().await?;
    match client.account_verify_credentials().await {
        Err(e @ Error::Api(_)) => println!("10. Revoked the token; the server now answers: {e}"),
        Err(e) => return Err(e.into()),
        Ok(_) => return Err("the revoked token still works".into()),
    }

    if let Some(local) = target.local {
        local.shutdown().await;
    }
    println!("Done.");
    Ok(())
}
