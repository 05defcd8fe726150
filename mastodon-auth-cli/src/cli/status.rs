//! `status`: every stored account checked against its instance, like `gh auth status`.

use std::cell::OnceCell;
use std::collections::HashMap;

use futures_util::future::join_all;
use mastodon_auth::{
    AccountDirectory, AccountKey, CredentialStore, InstanceUrl, Scopes, UserCredentials,
};
use serde_json::json;
use tokio::sync::Semaphore;

use super::context::Context;
use super::failure::{Exit, Failure};
use super::output;

/// How many instances `status` checks at once: enough that a slow instance does not hold up
/// the others, few enough that a long account list does not open a connection per account.
const INSTANCES_AT_ONCE: usize = 8;

/// Where a token is kept.
#[derive(Clone, Copy)]
enum Storage {
    /// The accounts file.
    File,
    /// `MASTODON_AUTH_TOKEN`.
    Environment,
}

impl Storage {
    fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Environment => "environment",
        }
    }
}

/// What the instance said about a token.
enum Token {
    /// It works; the account's display name.
    Valid { display_name: String },
    /// The instance refused it (revoked, expired).
    Rejected(String),
    /// It could not be checked (the instance is down, …).
    Unchecked(Failure),
}

/// One account's report.
struct Report {
    /// The stored account, or what the server said of the environment's token.
    key: Option<AccountKey>,
    /// Where its token is kept.
    storage: Storage,
    instance: InstanceUrl,
    active: bool,
    token: Token,
    scopes: Option<Scopes>,
    version: Option<String>,
}

pub(super) async fn status(ctx: &Context) -> Result<(), Failure> {
    let keys = ctx.store.list_users().await?;
    // The environment's token, when set, is the one in effect: reported first, as active.
    let from_env = ctx.environment_user().await?;
    let active = match from_env {
        Some(_) => None,
        None => ctx.store.active_user().await?,
    };
    if keys.is_empty() && from_env.is_none() {
        if ctx.out.json {
            output::raw(b"[]\n")?;
        }
        return Err(Failure::new(
            Exit::Auth,
            "not logged in to any instance: run `mastodon-auth login --instance URL`",
        ));
    }
    // Loaded first, in the store's order (a local file), then checked: every instance at
    // once up to a bound, so that one slow or unreachable instance does not hold up the rest;
    // the accounts of one instance one after another, the version asked once.
    let mut groups: Vec<Vec<(usize, AccountKey, UserCredentials)>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for (order, key) in keys.into_iter().enumerate() {
        // An account another process removed meanwhile is simply not reported.
        if let Some(user) = ctx.store.load_user(&key).await? {
            let group = *group_of
                .entry(user.instance.to_string())
                .or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
            groups[group].push((order, key, user));
        }
    }
    let permits = Semaphore::new(INSTANCES_AT_ONCE);
    let checks = groups.into_iter().map(|group| {
        let (permits, active) = (&permits, &active);
        async move {
            let _permit = permits.acquire().await;
            let mut version = OnceCell::new();
            let mut reports = Vec::new();
            for (order, key, user) in group {
                let is_active = active.as_ref() == Some(&key);
                let report = check(ctx, Some(key), user, is_active, &mut version).await?;
                // After the environment's token, which comes first.
                reports.push((order + 1, report));
            }
            Ok::<_, Failure>(reports)
        }
    });
    let mut reports = Vec::new();
    if let Some(user) = from_env {
        let mut report = check(ctx, None, user, true, &mut OnceCell::new()).await?;
        report.storage = Storage::Environment;
        reports.push((0, report));
    }
    for group in join_all(checks).await {
        reports.extend(group?);
    }
    reports.sort_by_key(|(order, _)| *order);
    let reports: Vec<Report> = reports.into_iter().map(|(_, report)| report).collect();
    let value = reports.iter().map(Report::json).collect();
    let lines: Vec<String> = reports.iter().flat_map(Report::lines).collect();
    ctx.out.say(&serde_json::Value::Array(value), &lines)?;
    match reports.into_iter().find(|r| r.active).map(|r| r.token) {
        Some(Token::Rejected(why)) => Err(Failure::new(
            Exit::Auth,
            format!("the active account's token was rejected: {why}"),
        )),
        Some(Token::Unchecked(failure)) => {
            Err(failure.context("the active account could not be checked"))
        }
        _ => Ok(()),
    }
}

/// Checks one account. `version` is its instance's, once asked: the accounts of one instance
/// share it, so the instance is asked once.
async fn check(
    ctx: &Context,
    key: Option<AccountKey>,
    user: UserCredentials,
    active: bool,
    version: &mut OnceCell<Option<String>>,
) -> Result<Report, Failure> {
    let client = ctx.account_client(&user).await?;
    let token = match client.account_verify_credentials().await {
        Ok(account) => Token::Valid {
            display_name: account.display_name,
        },
        Err(e) if e.is_authentication() => Token::Rejected(e.to_string()),
        Err(e) => Token::Unchecked(e.into()),
    };
    let version = if let Some(known) = version.get() {
        known.clone()
    } else {
        let asked = match &token {
            // An instance that cannot be reached will not tell its version either.
            Token::Unchecked(_) => None,
            _ => client
                .retrieve_mastodon_version()
                .await
                .ok()
                .filter(|_| client.version_is_known())
                .map(|v| v.raw),
        };
        version.get_or_init(|| asked).clone()
    };
    Ok(Report {
        key: key.or_else(|| client.account()),
        storage: Storage::File,
        instance: user.instance,
        active,
        token,
        scopes: user.scopes,
        version,
    })
}

impl Report {
    fn json(&self) -> serde_json::Value {
        let (token, error, display_name) = match &self.token {
            Token::Valid { display_name } => ("valid", None, Some(display_name.as_str())),
            Token::Rejected(why) => ("rejected", Some(why.as_str()), None),
            Token::Unchecked(f) => ("unchecked", f.message(), None),
        };
        json!({
            "account": self.key.as_ref().map(AccountKey::as_str),
            "storage": self.storage.as_str(),
            "instance": self.instance.as_str(),
            "active": self.active,
            "token": token,
            "error": error,
            "display_name": display_name,
            "scopes": self.scopes.as_ref().map(|s| s.iter().map(mastodon_auth::Scope::as_str).collect::<Vec<_>>()),
            "version": self.version,
        })
    }

    fn lines(&self) -> Vec<String> {
        let token = match &self.token {
            Token::Valid { display_name } if display_name.is_empty() => "works".to_owned(),
            Token::Valid { display_name } => format!("works ({display_name})"),
            Token::Rejected(why) => format!("rejected: {why}"),
            Token::Unchecked(f) => {
                format!("not checked: {}", f.message().unwrap_or("unknown failure"))
            }
        };
        let name = self
            .key
            .as_ref()
            .map_or_else(|| "an unknown account".to_owned(), ToString::to_string);
        let kept = match self.storage {
            Storage::File => "",
            Storage::Environment => ", from MASTODON_AUTH_TOKEN",
        };
        vec![
            format!("{name}{}{kept}", if self.active { " (active)" } else { "" }),
            format!(
                "  instance: {}, {}",
                self.instance,
                self.version
                    .as_deref()
                    .map_or("version unknown".to_owned(), |v| format!("version {v}"))
            ),
            format!("  token:    {token}"),
            format!(
                "  scopes:   {}",
                self.scopes
                    .as_ref()
                    .map_or("unknown".to_owned(), ToString::to_string)
            ),
        ]
    }
}
