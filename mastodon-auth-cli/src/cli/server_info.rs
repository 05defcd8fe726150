//! `server-info`: what an instance supports.

use serde_json::json;

use super::{Context, Failure, builder};

pub(super) async fn server_info(ctx: &Context, instance: &str) -> Result<(), Failure> {
    let client = builder(ctx, instance).build().await?;
    let info = client.oauth_authorization_server_info().await?;
    let version = client.retrieve_mastodon_version().await?;
    let known = client.version_is_known();
    let grants = info.as_ref().and_then(|i| i.grant_types_supported.clone());
    let pkce = info.as_ref().is_some_and(|i| i.supports_pkce_s256());
    let value = json!({
        "instance": client.base_url().as_str(),
        "version": known.then(|| version.raw.clone()),
        "api_version": client.api_version(),
        "metadata": info.is_some(),
        "authorization_endpoint": info.as_ref().and_then(|i| i.authorization_endpoint.clone()),
        "token_endpoint": info.as_ref().and_then(|i| i.token_endpoint.clone()),
        "grant_types": grants,
        "pkce_s256": pkce,
    });
    if ctx.json {
        println!("{value}");
    } else {
        println!("Instance:  {}", client.base_url());
        println!(
            "Version:   {}",
            if known {
                version.raw.as_str()
            } else {
                "unknown"
            }
        );
        if let Some(api) = client.api_version() {
            println!("API level: {api}");
        }
        match &info {
            Some(i) => {
                println!("OAuth metadata: yes");
                println!(
                    "  authorize: {}",
                    i.authorization_endpoint.as_deref().unwrap_or("(default)")
                );
                println!(
                    "  token:     {}",
                    i.token_endpoint.as_deref().unwrap_or("(default)")
                );
                println!(
                    "  grants:    {}",
                    i.grant_types_supported
                        .as_ref()
                        .map_or("(not listed)".to_owned(), |g| g.join(", "))
                );
                println!("  PKCE S256: {}", if pkce { "yes" } else { "no" });
            }
            None => println!(
                "OAuth metadata: none (older Mastodon or another server; /oauth/* is used)"
            ),
        }
    }
    Ok(())
}
