//! What every command works with: the output mode, the accounts file, and how to reach an
//! instance (transport, trust roots, client).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mastodon_auth::ratelimit::RetryBudget;
use mastodon_auth::store::atomic::LockWait;
use mastodon_auth::{
    AccountKey, AccountsFile, CredentialStore, HyperTransport, InstanceUrl, Mastodon,
    MastodonBuilder, Pacer, RateLimitMethod, UserCredentials,
};

use super::failure::{Exit, Failure};
use super::output::{self, Output};
use super::trust;

/// A person at a terminal waits out a short rate limit, not a storm: two retries and two
/// minutes at most, then exit 5 with the server's rate limit named.
const RETRY_BUDGET: RetryBudget = RetryBudget::new(2, Duration::from_secs(120));

/// Waits shorter than this pass silently; longer ones are announced on stderr.
const ANNOUNCE_WAITS_OVER: Duration = Duration::from_secs(2);

/// The `User-Agent` of every request this tool sends.
pub(crate) const USER_AGENT: &str = concat!("mastodon-auth-cli/", env!("CARGO_PKG_VERSION"));

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
    as_account: Option<AccountKey>,
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
            store: Arc::new(AccountsFile::open(config.join("accounts.json")).lock_wait(
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
            as_account: as_account.map(parse_account).transpose()?,
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
    pub(crate) async fn account_client(&self, user: &UserCredentials) -> Result<Mastodon, Failure> {
        let mut builder = self
            .builder(&user.instance)?
            .shared_store(self.store.clone());
        if let Some(key) = &user.account {
            builder = builder.account(key.clone());
        }
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
        if let Some(client) = &user.client {
            builder = builder.client_credentials(client.clone());
        }
        Ok(builder.build().await?)
    }

    /// The account named (or given with `--as`), else the active one.
    pub(crate) async fn user(&self, account: Option<&str>) -> Result<UserCredentials, Failure> {
        let key = match account {
            Some(account) => Some(parse_account(account)?),
            None => self.as_account.clone(),
        };
        match key {
            Some(key) => self
                .store
                .load_user(&key)
                .await?
                .ok_or_else(|| unknown_account(&key)),
            None => self.store.load_active_user().await?.ok_or_else(|| {
                Failure::new(
                    Exit::Auth,
                    "not logged in: run `mastodon-auth login --instance URL` first",
                )
            }),
        }
    }
}

/// Parses `user@instance` given on the command line.
pub(crate) fn parse_account(account: &str) -> Result<AccountKey, Failure> {
    AccountKey::parse(account).map_err(|e| Failure::usage(e.to_string()))
}

pub(crate) fn unknown_account(key: &AccountKey) -> Failure {
    Failure::usage(format!(
        "no account {key}: `mastodon-auth accounts` lists them"
    ))
}
