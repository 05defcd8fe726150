//! What every command works with: the output mode, the accounts file, and how to reach an
//! instance (transport, trust roots, client).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mastodon_auth::ratelimit::RetryBudget;
use mastodon_auth::store::atomic::LockWait;
use mastodon_auth::{
    AccessToken, AccountDirectory, AccountKey, AccountsFile, CredentialStore, HyperTransport,
    InstanceUrl, Mastodon, MastodonBuilder, Pacer, RateLimitMethod, UserCredentials,
};

use super::failure::{Exit, Failure};
use super::output::{self, Output};
use super::{suggest, trust};

/// A person at a terminal waits out a short rate limit, not a storm: two retries and two
/// minutes at most, then exit 5 with the server's rate limit named.
const RETRY_BUDGET: RetryBudget = RetryBudget::new(2, Duration::from_secs(120));

/// Waits shorter than this pass silently; longer ones are announced on stderr.
const ANNOUNCE_WAITS_OVER: Duration = Duration::from_secs(2);

/// The `User-Agent` of every request this tool sends.
pub(crate) const USER_AGENT: &str = concat!("mastodon-auth-cli/", env!("CARGO_PKG_VERSION"));

/// A token that overrides the stored accounts for every command that uses one (CI,
/// containers), like `GH_TOKEN` for `gh`.
pub(crate) const TOKEN_ENV: &str = "MASTODON_AUTH_TOKEN";
/// The instance of [`TOKEN_ENV`]'s token (default: the active account's instance).
pub(crate) const INSTANCE_ENV: &str = "MASTODON_AUTH_INSTANCE";

/// The accounts file, in the config folder.
pub(crate) const ACCOUNTS_FILE: &str = "accounts.json";

/// `<platform config folder>/mastodon-auth`, e.g. `~/.config/mastodon-auth` on Linux.
pub(crate) fn default_config_dir() -> Option<PathBuf> {
    AccountsFile::default_location().and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The state of one run.
pub(crate) struct Context {
    pub(crate) out: Output,
    pub(crate) store: Arc<AccountsFile>,
    config: PathBuf,
    verbose: bool,
    /// `--ca-cert`: read only when a connection is made.
    ca_cert: Option<PathBuf>,
    /// `--as`, as typed: resolved against the stored accounts when a command needs the user.
    as_account: Option<String>,
    /// [`TOKEN_ENV`] and [`INSTANCE_ENV`], when the token is set.
    from_env: Option<(AccessToken, Option<String>)>,
    /// One transport per instance for the whole run, so that the clients and requests of one
    /// command (`status`'s accounts, `server-info`'s probes) share its connections and its
    /// trust roots are read once.
    transports: Mutex<HashMap<InstanceUrl, HyperTransport>>,
}

impl Context {
    pub(crate) fn new(
        config: Option<PathBuf>,
        json: bool,
        verbose: bool,
        ca_cert: Option<PathBuf>,
        as_account: Option<&str>,
    ) -> Result<Self, Failure> {
        let config = config.or_else(default_config_dir).ok_or_else(|| {
            Failure::usage(
                "this platform has no config folder: pass --config DIR or set MASTODON_AUTH_CONFIG",
            )
        })?;
        Ok(Self {
            out: Output { json },
            store: Arc::new(AccountsFile::open(config.join(ACCOUNTS_FILE)).lock_wait(
                LockWait::new().on_wait(|file| {
                    output::note(&format!(
                        "waiting for {} (held by another mastodon-auth)…",
                        file.display()
                    ));
                }),
            )),
            config,
            verbose,
            ca_cert,
            as_account: as_account.map(str::to_owned),
            from_env: std::env::var(TOKEN_ENV)
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .map(|token| {
                    let instance = std::env::var(INSTANCE_ENV).ok().filter(|i| !i.is_empty());
                    (AccessToken::new(token), instance)
                }),
            transports: Mutex::default(),
        })
    }

    /// The run's transport to `instance` (a handle on one connection pool), made on first use.
    pub(crate) fn transport_for(&self, instance: &InstanceUrl) -> Result<HyperTransport, Failure> {
        let mut transports = self
            .transports
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(transport) = transports.get(instance) {
            return Ok(transport.clone());
        }
        let transport = self.new_transport(instance)?;
        transports.insert(instance.clone(), transport.clone());
        Ok(transport)
    }

    /// A transport trusting the public roots, the certificate remembered for `instance` and
    /// `--ca-cert`.
    fn new_transport(&self, instance: &InstanceUrl) -> Result<HyperTransport, Failure> {
        let mut builder = HyperTransport::builder();
        if let Some(pem) = trust::remembered(&self.config, instance)? {
            builder = builder.add_root_pem(&pem);
        }
        if let Some(pem) = self.ca_cert_pem()? {
            builder = builder.add_root_pem(&pem);
        }
        builder.build().map_err(|e| Failure::usage(e.to_string()))
    }

    /// `--ca-cert`'s content, when given.
    pub(crate) fn ca_cert_pem(&self) -> Result<Option<Vec<u8>>, Failure> {
        self.ca_cert
            .as_deref()
            .map(|path| trust::read_pem(path, Exit::Usage))
            .transpose()
    }

    /// Remembers `--ca-cert` for `instance`, after a login to it succeeded.
    pub(crate) fn remember_ca_cert(&self, instance: &InstanceUrl) -> Result<(), Failure> {
        match self.ca_cert_pem()? {
            Some(pem) => trust::remember(&self.config, instance, &pem),
            None => Ok(()),
        }
    }

    /// A client for `instance`, without credentials yet.
    pub(crate) fn builder(&self, instance: &InstanceUrl) -> Result<MastodonBuilder, Failure> {
        Ok(Mastodon::builder(instance.as_str())
            .transport(self.transport_for(instance)?)
            .rate_limiter(
                Pacer::new(RateLimitMethod::Wait)
                    .retry_budget(RETRY_BUDGET)
                    .on_wait(ANNOUNCE_WAITS_OVER, |wait, reason| {
                        output::note(&format!(
                            "waiting {:.0} s for {reason}…",
                            wait.as_secs_f64().ceil()
                        ));
                    }),
            )
            .user_agent(USER_AGENT)
            .debug_requests(self.verbose))
    }

    /// A client for a stored account, backed by the accounts file (so a refreshed token is
    /// kept).
    /// A user without an account name is not the store's (the environment's token): its
    /// client is [detached](Self::detached_client).
    pub(crate) async fn account_client(&self, user: &UserCredentials) -> Result<Mastodon, Failure> {
        let Some(key) = &user.account else {
            return self.detached_client(user).await;
        };
        let builder = self
            .builder(&user.instance)?
            .shared_store(self.store.clone())
            .account(key.clone());
        Ok(builder.build().await?)
    }

    /// A client holding `user`'s credentials, not tied to the store (for a token the store
    /// no longer holds).
    pub(crate) async fn detached_client(
        &self,
        user: &UserCredentials,
    ) -> Result<Mastodon, Failure> {
        let mut builder = self
            .builder(&user.instance)?
            .access_token(user.access_token.clone());
        if let (Some(id), Some(secret)) = (&user.client_id, &user.client_secret) {
            builder = builder.client(id.clone(), secret.clone());
        }
        Ok(builder.build().await?)
    }

    /// Whether the token in effect is [`TOKEN_ENV`]'s (no account named on the command line).
    pub(crate) fn environment_in_effect(&self, account: Option<&str>) -> bool {
        self.from_env.is_some() && account.or(self.as_account.as_deref()).is_none()
    }

    /// [`TOKEN_ENV`]'s token, for [`INSTANCE_ENV`]'s instance or the active account's; the
    /// account is not known until the server says.
    pub(crate) async fn environment_user(&self) -> Result<Option<UserCredentials>, Failure> {
        let Some((token, instance)) = &self.from_env else {
            return Ok(None);
        };
        let instance = match instance {
            Some(instance) => InstanceUrl::parse(instance)
                .map_err(|e| Failure::usage(format!("{INSTANCE_ENV}: {e}")))?,
            None => match self.store.load_active_user().await? {
                Some(active) => active.instance,
                None => {
                    return Err(Failure::usage(format!(
                        "{TOKEN_ENV} is set: set {INSTANCE_ENV} to its instance too \
                         (no account is active to take it from)"
                    )));
                }
            },
        };
        Ok(Some(UserCredentials::new(instance, token.clone())))
    }

    /// Refuses a command that would act on the stored active account while [`TOKEN_ENV`]
    /// overrides it: it would not change what is in effect.
    pub(crate) fn refuse_while_environment(&self, command: &str) -> Result<(), Failure> {
        if self.environment_in_effect(None) {
            return Err(Failure::usage(format!(
                "{TOKEN_ENV} is set and overrides the stored accounts, so `{command}` would not \
                 change the token in effect: unset it first (or name an account with --as)"
            )));
        }
        Ok(())
    }

    /// The account named (or given with `--as`), else [`TOKEN_ENV`]'s token, else the active
    /// account.
    pub(crate) async fn user(&self, account: Option<&str>) -> Result<UserCredentials, Failure> {
        if self.environment_in_effect(account)
            && let Some(user) = self.environment_user().await?
        {
            return Ok(user);
        }
        let Some(typed) = account.or(self.as_account.as_deref()) else {
            if let Some(user) = self.store.load_active_user().await? {
                return Ok(user);
            }
            let known = self.store.list_users().await?;
            let message = if known.is_empty() {
                "not logged in: run `mastodon-auth login --instance URL` first".to_owned()
            } else {
                format!(
                    "no account is active: `mastodon-auth use ACCOUNT` picks one of {}",
                    list(&known)
                )
            };
            return Err(Failure::new(Exit::Auth, message));
        };
        let key = self.resolve_account(typed).await?;
        self.store
            .load_user(&key)
            .await?
            .ok_or_else(|| unknown_account(&key))
    }

    /// The stored account `typed` names: `user@instance`, or a user name alone when one stored
    /// account has it. Otherwise a usage error that says what was meant, when a stored
    /// account is one typo away.
    pub(crate) async fn resolve_account(&self, typed: &str) -> Result<AccountKey, Failure> {
        let known = self.store.list_users().await?;
        if let Ok(key) = AccountKey::parse(typed) {
            if known.contains(&key) {
                return Ok(key);
            }
        } else {
            let name = typed.strip_prefix('@').unwrap_or(typed);
            let same_name: Vec<AccountKey> = known
                .iter()
                .filter(|k| k.username().eq_ignore_ascii_case(name))
                .cloned()
                .collect();
            match same_name.as_slice() {
                [one] => return Ok(one.clone()),
                [] => {}
                several => {
                    return Err(Failure::usage(format!(
                        "{name} has accounts on several instances: say which, {}",
                        list(several)
                    )));
                }
            }
        }
        let meant = suggest::closest(typed, known.iter().map(AccountKey::as_str)).or_else(|| {
            let name = typed
                .split('@')
                .find(|part| !part.is_empty())
                .unwrap_or(typed);
            suggest::closest(name, known.iter().map(AccountKey::username))
                .and_then(|user| known.iter().find(|k| k.username() == user))
                .map(AccountKey::as_str)
        });
        Err(Failure::usage(match meant {
            Some(meant) => format!("no account {typed}: did you mean {meant}?"),
            None if known.is_empty() => {
                format!(
                    "no account {typed}: none is stored yet; run `mastodon-auth login --instance URL`"
                )
            }
            None => format!("no account {typed}: `mastodon-auth accounts` lists them"),
        }))
    }
}

/// `a, b or c`.
fn list(keys: &[AccountKey]) -> String {
    let keys: Vec<&str> = keys.iter().map(AccountKey::as_str).collect();
    match keys.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => keys.concat(),
    }
}

pub(crate) fn unknown_account(key: &AccountKey) -> Failure {
    Failure::usage(format!(
        "no account {key}: `mastodon-auth accounts` lists them"
    ))
}
