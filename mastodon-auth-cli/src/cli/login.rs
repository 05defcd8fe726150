//! `login`: register once per instance, authorize (browser, out of band, password, or a token
//! made in the web interface), keep the account, and give back what it replaces.

use std::time::Duration;

use mastodon_auth::browser;
use mastodon_auth::loopback::{CallbackError, CallbackListener, REGISTERED_REDIRECT_URI};
use mastodon_auth::{
    AccessToken, AppCredentials, CredentialStore, InstanceUrl, KNOWN_SCOPES, LoginGrant, Mastodon,
    OOB_REDIRECT_URI, Password, Scopes, UserCredentials,
};
use serde_json::json;

use super::context::Context;
use super::failure::{Exit, Failure};
use super::output::note;
use super::secret_input::read_secret_line;
use super::suggest;

/// The app name registered with each instance.
const APP_NAME: &str = "mastodon-auth";

/// How the person proves who they are.
pub(super) enum How {
    Browser { open: bool, timeout: Duration },
    OutOfBand,
    Password(String),
}

/// Parses `--scopes`, refusing scopes Mastodon does not know before anything is sent.
pub(super) fn known_scopes(list: &str) -> Result<Scopes, Failure> {
    let scopes = Scopes::parse(list).map_err(|e| Failure::usage(e.to_string()))?;
    let unknown: Vec<&str> = scopes
        .iter()
        .filter(|s| !s.is_known())
        .map(mastodon_auth::Scope::as_str)
        .collect();
    if !unknown.is_empty() {
        let named: Vec<String> = unknown
            .iter()
            .map(
                |typed| match suggest::closest(typed, KNOWN_SCOPES.iter().copied()) {
                    Some(meant) => format!("{typed} (did you mean {meant}?)"),
                    None => (*typed).to_owned(),
                },
            )
            .collect();
        // The groups alone: the sixty fine-grained scopes on one line would bury the hint.
        let groups: Vec<&str> = KNOWN_SCOPES
            .iter()
            .copied()
            .filter(|s| !s.contains(':') || matches!(*s, "admin:read" | "admin:write"))
            .collect();
        return Err(Failure::usage(format!(
            "unknown scope{} {}; the scopes are {}, and parts of them such as read:accounts",
            if unknown.len() > 1 { "s" } else { "" },
            named.join(", "),
            groups.join(" ")
        )));
    }
    if scopes.is_empty() {
        return Err(Failure::usage("--scopes is empty"));
    }
    Ok(scopes)
}

pub(super) async fn login(
    ctx: &Context,
    instance: &str,
    scopes: Scopes,
    how: How,
) -> Result<(), Failure> {
    let instance = InstanceUrl::parse(instance)?;
    // Read once: it gives the client its id and secret, and `register` its scopes.
    let app = ctx.store.load_app(&instance).await?;
    let mut builder = ctx
        .builder(&instance)?
        .shared_store(ctx.store.clone())
        .skip_stored_user();
    if let Some(app) = &app {
        builder = builder.client(app.client_id.clone(), app.client_secret.clone());
    }
    let client = builder.build().await?;
    register(&client, app, &scopes).await?;
    let grant = authorize(&client, scopes, how).await?;
    match exchange(ctx, &client, grant).await {
        Ok(kept) => finish(ctx, &instance, kept).await,
        Err(failure) => {
            // A token the server issued must not outlive a failed login unseen (a scope
            // mismatch keeps it in the client precisely so it can be revoked).
            if client.access_token().is_some()
                && let Err(e) = client.revoke_access_token().await
            {
                note(&format!("The new token could not be revoked: {e}"));
            }
            Err(failure)
        }
    }
}

/// Gets the person's consent, as the grant to exchange for a token.
async fn authorize(client: &Mastodon, scopes: Scopes, how: How) -> Result<LoginGrant, Failure> {
    match how {
        How::Password(username) => Ok(LoginGrant::Password {
            username,
            password: Password::new(read_secret_line("password")?),
            scopes,
        }),
        How::OutOfBand => {
            let (url, pending) = client.auth_request_url().scopes(scopes).build().await?;
            note(&format!("Open this URL to authorize: {url}"));
            note("Then paste the code the server shows here:");
            let code = read_secret_line("authorization code")?;
            Ok(LoginGrant::AuthorizationCode(pending.code(code.trim())))
        }
        How::Browser { open, timeout } => through_browser(client, scopes, open, timeout).await,
    }
}

/// The installed-app flow: the URL printed (and opened), the code taken from the browser
/// coming back to a loopback listener.
async fn through_browser(
    client: &Mastodon,
    scopes: Scopes,
    open: bool,
    timeout: Duration,
) -> Result<LoginGrant, Failure> {
    let listener = CallbackListener::bind()
        .await
        .map_err(|e| Failure::other(format!("cannot listen on 127.0.0.1: {e}")))?;
    let (url, pending) = client
        .auth_request_url()
        .scopes(scopes)
        .redirect_uri(listener.redirect_uri())
        .build()
        .await?;
    note(&format!("Open this URL to authorize: {url}"));
    note(&format!(
        "Waiting up to {timeout:?} for the browser to come back (Ctrl-C to cancel)…"
    ));
    if open {
        // Opening runs beside the wait: an opener may take a moment to report back.
        tokio::spawn(async move {
            match browser::open(&url).await {
                Ok(()) => note("Opened your browser."),
                Err(e) => note(&format!(
                    "Could not open a browser ({e}): open the URL above yourself."
                )),
            }
        });
    }
    let code = listener
        .wait_for(pending, timeout)
        .await
        .map_err(|e| match e {
            CallbackError::Authorization(e) => Failure::from(e),
            timed_out => Failure::new(
                Exit::Auth,
                format!(
                    "login timed out: {timed_out}; run login again (--oob reads the code from stdin instead)"
                ),
            ),
        })?;
    Ok(LoginGrant::AuthorizationCode(code))
}

/// Registers the app with the instance unless the stored one covers `scopes`.
async fn register(
    client: &Mastodon,
    stored: Option<AppCredentials>,
    scopes: &Scopes,
) -> Result<(), Failure> {
    // Mastodon wants requested scopes to be literally among the app's: register again if not.
    let app_fits = stored
        .and_then(|app| app.scopes)
        .is_some_and(|s| scopes.iter().all(|x| s.contains(x.as_str())));
    if !app_fits {
        client
            .create_app(APP_NAME)
            .scopes(scopes.clone())
            .redirect_uris(vec![
                OOB_REDIRECT_URI.to_owned(),
                REGISTERED_REDIRECT_URI.to_owned(),
            ])
            .send()
            .await?;
    }
    Ok(())
}

/// The account the new token belongs to, saved, with the credentials it replaces.
struct Kept {
    user: UserCredentials,
    replaced: Option<UserCredentials>,
}

/// Exchanges the grant for a token, learns its account and saves it (the store keeps the app
/// too).
async fn exchange(ctx: &Context, client: &Mastodon, grant: LoginGrant) -> Result<Kept, Failure> {
    client.log_in(grant).await?;
    client.account_verify_credentials().await?;
    let key = client
        .account()
        .ok_or_else(|| Failure::other("the server did not say which account logged in"))?;
    let replaced = ctx.store.load_user(&key).await?;
    let user = client.save_credentials().await?;
    Ok(Kept { user, replaced })
}

/// After the new credentials are safely stored: remembers `--ca-cert`, revokes the token they
/// replace, and says who is logged in.
async fn finish(ctx: &Context, instance: &InstanceUrl, kept: Kept) -> Result<(), Failure> {
    if let Err(e) = ctx.remember_ca_cert(instance) {
        note(&format!(
            "The CA certificate could not be remembered ({}): pass --ca-cert again next time.",
            e.message().unwrap_or("unknown failure")
        ));
    }
    if let Some(old) = kept.replaced {
        revoke_replaced(ctx, &old, &kept.user).await;
    }
    let key = kept.user.account.map(|k| k.to_string()).unwrap_or_default();
    ctx.out.say(
        &json!({ "account": key, "instance": instance.as_str() }),
        &[format!("Logged in as {key}")],
    )
}

/// Revokes the token a new login replaced (best effort: the new one is already stored).
async fn revoke_replaced(ctx: &Context, old: &UserCredentials, new: &UserCredentials) {
    // A server may hand out the same token again (Doorkeeper's reuse_access_token).
    if old.access_token == new.access_token {
        return;
    }
    if old.client_id.is_none() {
        note(
            "The previous token was added with --with-token: revoke it in the instance's web interface (Preferences → Development).",
        );
        return;
    }
    let revoked = match ctx.detached_client(old).await {
        Ok(client) => client.revoke_access_token().await.map_err(Failure::from),
        Err(e) => Err(e),
    };
    match revoked {
        Ok(()) => {}
        // Already unusable: nothing to give back.
        Err(e) if e.exit() == Exit::Auth => {}
        Err(e) => note(&format!(
            "The previous token could not be revoked: {}",
            e.message().unwrap_or("unknown failure")
        )),
    }
}

/// `login --with-token`: keeps a token made in the web interface, once the server accepts it.
pub(super) async fn with_token(ctx: &Context, instance: &str) -> Result<(), Failure> {
    let instance = InstanceUrl::parse(instance)?;
    let token = AccessToken::new(read_secret_line("access token")?.trim());
    let client = ctx
        .builder(&instance)?
        .access_token(token.clone())
        .build()
        .await?;
    client.account_verify_credentials().await?;
    let key = client
        .account()
        .ok_or_else(|| Failure::other("the server did not say whose token this is"))?;
    let mut user = UserCredentials::new(instance.clone(), token).with_account(key.clone());
    // The scopes of a web-interface token are its application's (Mastodon ≥ 4.3 tells them).
    user.scopes = match client.app_verify_credentials().await {
        Ok(app) => app.scopes.and_then(|s| Scopes::parse(&s.join(" ")).ok()),
        Err(_) => None,
    };
    let replaced = ctx.store.load_user(&key).await?;
    ctx.store.save_user(&user).await?;
    finish(ctx, &instance, Kept { user, replaced }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scopes_are_refused_with_the_known_ones() {
        let e = known_scopes("read wrte admin:raed").unwrap_err();
        assert_eq!(e.exit(), Exit::Usage);
        let text = e.message().unwrap();
        assert!(
            text.starts_with(
                "unknown scopes wrte (did you mean write?), admin:raed (did you mean admin:read?); \
                 the scopes are read profile write follow push admin:read admin:write, and parts"
            ),
            "{text}"
        );
        assert!(known_scopes("read write:statuses push").is_ok());
    }
}
