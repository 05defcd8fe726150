//! `accounts`, `logout`: what the accounts file holds, and forgetting an account.

use mastodon_auth::{AccountDirectory, AccountKey, CredentialStore};
use serde_json::json;

use super::{Context, Failure, account_client, load_user, say};

pub(super) async fn accounts(ctx: &Context) -> Result<(), Failure> {
    let active = ctx.store.active_user().await?;
    let mut rows = Vec::new();
    for key in ctx.store.list_users().await? {
        let instance = ctx
            .store
            .load_user(&key)
            .await?
            .map(|u| u.instance.to_string())
            .unwrap_or_default();
        rows.push((key.clone(), instance, active.as_ref() == Some(&key)));
    }
    if ctx.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(k, i, a)| json!({ "account": k.as_str(), "instance": i, "active": a }))
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else if rows.is_empty() {
        println!("No accounts yet: run `mastodon-auth login --instance URL`.");
    } else {
        for (key, instance, is_active) in rows {
            println!("{} {key} ({instance})", if is_active { "*" } else { " " });
        }
    }
    Ok(())
}

pub(super) async fn logout(ctx: &Context, key: Option<AccountKey>) -> Result<(), Failure> {
    let user = load_user(ctx, key).await?;
    let key = user
        .account
        .clone()
        .ok_or_else(|| Failure::other("the stored account has no name"))?;
    let client = account_client(ctx, Some(key.clone())).await?;
    match client.revoke_access_token().await {
        Ok(()) => {}
        // A token the server already rejects is as good as revoked.
        Err(e) if e.is_authentication() => {}
        Err(e) => return Err(e.into()),
    }
    ctx.store.remove_user(&key).await?;
    say(
        ctx,
        &json!({ "logged_out": key.as_str() }),
        &format!("Logged out {key}"),
    );
    Ok(())
}
