//! `login`: register once per instance, then authorize by browser, out of band, or password.

use std::io::BufRead;
use std::time::Duration;

use mastodon_auth::{CredentialStore, InstanceUrl, LoginGrant, OOB_REDIRECT_URI, Password, Scopes};
use serde_json::json;

use super::{Context, Failure, builder, say};
use mastodon_auth::browser;
use mastodon_auth::loopback::{CallbackListener, REGISTERED_REDIRECT_URI};

/// How long a browser login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The app name registered with each instance.
const APP_NAME: &str = "mastodon-auth";

/// How the person proves who they are.
pub(super) enum How {
    Browser { open: bool },
    OutOfBand,
    Password(String),
}

pub(super) async fn login(
    ctx: &Context,
    instance: &str,
    scopes: Scopes,
    how: How,
) -> Result<(), Failure> {
    let instance = InstanceUrl::parse(instance)?;
    let client = builder(ctx, instance.as_str())
        .shared_store(ctx.store.clone())
        .skip_stored_user()
        .build()
        .await?;
    let stored_scopes = ctx
        .store
        .load_app(&instance)
        .await?
        .and_then(|app| app.scopes);
    // Mastodon wants requested scopes to be literally among the app's: register again if not.
    let app_fits = stored_scopes.is_some_and(|s| scopes.iter().all(|x| s.contains(x.as_str())));
    if client.client_id().is_none() || !app_fits {
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
    let grant = match how {
        How::Password(username) => {
            let password = read_line_from_stdin("password")?;
            LoginGrant::Password {
                username,
                password: Password::new(password),
                scopes,
            }
        }
        How::OutOfBand => {
            let (url, pending) = client.auth_request_url().scopes(scopes).build().await?;
            eprintln!("Open this URL to authorize: {url}");
            eprintln!("Then paste the code the server shows here:");
            let code = read_line_from_stdin("authorization code")?;
            LoginGrant::AuthorizationCode(pending.code(code))
        }
        How::Browser { open } => {
            let listener = CallbackListener::bind()
                .await
                .map_err(|e| Failure::other(format!("cannot listen on 127.0.0.1: {e}")))?;
            let (url, pending) = client
                .auth_request_url()
                .scopes(scopes)
                .redirect_uri(listener.redirect_uri())
                .build()
                .await?;
            if open && browser::open(&url) {
                eprintln!("Opened your browser to authorize; waiting for it to come back…");
            } else {
                eprintln!("Open this URL to authorize: {url}");
            }
            let callback = listener.wait(LOGIN_TIMEOUT).await.map_err(|e| Failure {
                code: 3,
                message: e.to_string(),
            })?;
            LoginGrant::AuthorizationCode(pending.callback(&callback)?)
        }
    };
    client.log_in(grant).await?;
    let user = client.save_credentials().await?;
    let key = user.account.map(|k| k.to_string()).unwrap_or_default();
    say(
        ctx,
        &json!({ "account": key, "instance": instance.as_str() }),
        &format!("Logged in as {key}"),
    );
    Ok(())
}

fn read_line_from_stdin(what: &str) -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::usage(format!("cannot read the {what} from stdin: {e}")))?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        return Err(Failure::usage(format!("no {what} on stdin")));
    }
    Ok(line)
}
