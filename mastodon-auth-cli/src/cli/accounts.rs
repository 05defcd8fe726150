//! The stored accounts: `accounts`, `use`, `whoami`, `token`, `logout`.

use mastodon_auth::{AccountDirectory, AccountKey, UserCredentials};
use serde_json::json;

use super::context::{Context, TOKEN_ENV};
use super::failure::{Failure, exit_for};
use super::output::note;

/// `accounts`: the keys and the active one, in two reads of the file whatever its size.
pub(super) async fn list(ctx: &Context) -> Result<(), Failure> {
    let keys = ctx.store.list_users().await?;
    let active = ctx.store.active_user().await?;
    let is_active = |key: &AccountKey| active.as_ref() == Some(key);
    let value = keys
        .iter()
        .map(|k| json!({ "account": k.as_str(), "active": is_active(k), "storage": "file" }))
        .collect();
    if keys.is_empty() && !ctx.out.json {
        // A hint, not a listing: stdout stays empty for `accounts | wc -l`.
        note("No accounts yet: run `mastodon-auth login --instance URL`.");
    }
    let lines: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {k}", if is_active(k) { "*" } else { " " }))
        .collect();
    ctx.out.say(&serde_json::Value::Array(value), &lines)
}

/// `use`: makes an account the active one.
pub(super) async fn switch(ctx: &Context, account: &str) -> Result<(), Failure> {
    ctx.refuse_while_environment("use")?;
    let key = ctx.resolve_account(account).await?;
    ctx.store.set_active_user(&key).await?;
    ctx.out.say(
        &json!({ "active": key.as_str() }),
        &[format!("Now using {key}")],
    )
}

/// `whoami`: the server's view of the account.
pub(super) async fn whoami(ctx: &Context) -> Result<(), Failure> {
    let user = ctx.user(None).await?;
    let client = ctx.account_client(&user).await?;
    let account = client.account_verify_credentials().await?;
    let key = client
        .account()
        .or(user.account)
        .map(|k| k.to_string())
        .unwrap_or_default();
    let text = if account.display_name.is_empty() {
        key.clone()
    } else {
        format!("{key} ({})", account.display_name)
    };
    ctx.out.say(
        &json!({ "account": key, "id": account.id, "display_name": account.display_name, "url": account.url }),
        &[text],
    )
}

/// `token`: the access token alone, for scripts; the one place a secret is printed, since it
/// is what the command is for.
pub(super) async fn token(ctx: &Context) -> Result<(), Failure> {
    let user = ctx.user(None).await?;
    let from_env = ctx.environment_in_effect(None);
    if from_env && !ctx.out.json {
        note(&format!("The token in effect is {TOKEN_ENV}'s."));
    }
    let token = user.access_token.expose();
    ctx.out.say(
        &json!({
            "account": user.account.as_ref().map(AccountKey::as_str),
            "instance": user.instance.as_str(),
            "access_token": token,
            "storage": if from_env { "environment" } else { "file" },
        }),
        &[token],
    )
}

/// `logout`: revokes the token, then forgets the account; `--local` only forgets.
pub(super) async fn logout(
    ctx: &Context,
    account: Option<&str>,
    local: bool,
) -> Result<(), Failure> {
    if account.is_none() {
        ctx.refuse_while_environment("logout")?;
    }
    let user = ctx.user(account).await?;
    let key = user
        .account
        .clone()
        .ok_or_else(|| Failure::other("the stored account has no name"))?;
    let revoked = !local && revoke(ctx, &user, &key).await?;
    let was_active = ctx.store.active_user().await?.as_ref() == Some(&key);
    ctx.store.remove_user(&key).await?;
    // With the active account gone, the next stored one takes its place, so that `token` and
    // `whoami` go on working for the accounts that are left.
    let now_active = match ctx.store.active_user().await? {
        Some(active) => Some(active),
        None if was_active => match ctx.store.list_users().await?.into_iter().next() {
            Some(next) => {
                ctx.store.set_active_user(&next).await?;
                Some(next)
            }
            None => None,
        },
        None => None,
    };
    let mut text = vec![if revoked {
        format!("Logged out {key}")
    } else {
        format!("Forgot {key}; its token was not revoked")
    }];
    if let Some(next) = now_active.as_ref().filter(|_| was_active) {
        text.push(format!("Now using {next}"));
    }
    ctx.out.say(
        &json!({
            "logged_out": key.as_str(),
            "revoked": revoked,
            "active": now_active.as_ref().map(AccountKey::as_str),
        }),
        &text,
    )
}

/// Revokes `user`'s token; `Ok(false)` when this tool cannot. A failure keeps the account.
async fn revoke(ctx: &Context, user: &UserCredentials, key: &AccountKey) -> Result<bool, Failure> {
    if user.client_id.is_none() {
        note(&format!(
            "The token of {key} was added with --with-token: only the instance's web interface can revoke it (Preferences → Development)."
        ));
        return Ok(false);
    }
    let client = ctx.account_client(user).await?;
    match client.revoke_access_token().await {
        Ok(()) => Ok(true),
        // A token the server already rejects is as good as revoked.
        Err(e) if e.is_authentication() => Ok(true),
        Err(e) => Err(Failure::new(
            exit_for(&e),
            format!(
                "could not revoke the token of {key}: {e}. The account is kept; \
                 `mastodon-auth logout --local {key}` forgets it without revoking"
            ),
        )),
    }
}
