//! The `mastodon-auth` command-line tool: log in (browser with a loopback callback, an
//! out-of-band code, or a password on servers that still allow it), keep many accounts in
//! one file, switch between them, print the active token for scripts, log out.
//!
//! Exit codes: 0 ok, 2 usage, 3 authentication, 4 network, 5 rate limit, 1 anything else.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mastodon_auth_core::{
    AccountKey, CredentialStore, Error, InstanceUrl, LoginGrant, Mastodon, OOB_REDIRECT_URI,
    Password, RatelimitMethod, Scopes,
};
use mastodon_auth_http::HyperTransport;
use mastodon_auth_ratelimit::Pacer;
use mastodon_auth_store::AccountsFile;
use serde_json::json;

use crate::browser;
use crate::loopback::{CallbackListener, REGISTERED_REDIRECT_URI};

/// How long a browser login may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The app name registered with each instance.
const APP_NAME: &str = "mastodon-auth";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "mastodon-auth",
    version,
    about = "Log in to Mastodon instances and keep the accounts for scripts and bots"
)]
pub struct Cli {
    /// Folder holding accounts.json (default: the platform's config folder).
    #[arg(long, global = true, value_name = "DIR")]
    config: Option<PathBuf>,
    /// Act as this account instead of the active one.
    #[arg(long = "as", global = true, value_name = "USER@INSTANCE")]
    as_account: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Log every request (secrets redacted) to stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Also trust this CA certificate (PEM), for private instances.
    #[arg(long, global = true, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in to an instance (registers this tool with it once).
    Login {
        /// The instance, e.g. mastodon.social.
        #[arg(long)]
        instance: String,
        /// Space-separated scopes.
        #[arg(long, default_value = "read write follow push")]
        scopes: String,
        /// Print the URL instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// Out of band: print the URL, then read the code the server shows from stdin.
        #[arg(long, conflicts_with = "no_browser")]
        oob: bool,
        /// E-mail for the password grant (servers before Mastodon 4.4).
        #[arg(long, requires = "password_stdin")]
        username: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long, requires = "username")]
        password_stdin: bool,
    },
    /// List the accounts, marking the active one.
    Accounts,
    /// Make an account the active one.
    Use {
        /// The account, as user@instance.
        account: String,
    },
    /// Ask the server who the active account is.
    Whoami,
    /// Print the active account's access token, alone, for scripts.
    Token,
    /// Revoke an account's token and forget the account.
    Logout {
        /// The account (default: the active one).
        account: Option<String>,
    },
    /// What an instance supports: OAuth endpoints, grants, PKCE, version.
    ServerInfo {
        /// The instance.
        instance: String,
    },
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// One line for stderr; never a secret.
    pub message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    fn other(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self {
            code: exit_code(&e),
            message: e.to_string(),
        }
    }
}

impl From<mastodon_auth_core::StoreError> for Failure {
    fn from(e: mastodon_auth_core::StoreError) -> Self {
        Self::other(e.to_string())
    }
}

/// The exit code for a library error.
#[must_use]
pub fn exit_code(e: &Error) -> u8 {
    match e {
        _ if e.is_authentication() => 3,
        Error::Network(_) => 4,
        Error::RateLimit(_) => 5,
        Error::InvalidArgument(_) => 2,
        _ => 1,
    }
}

/// Runs the tool with the process's arguments.
#[must_use]
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            // clap formats help and usage errors itself.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.verbose {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(std::io::stderr)
            .with_target(false)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mastodon-auth: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("mastodon-auth: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

struct Context {
    json: bool,
    verbose: bool,
    store: Arc<AccountsFile>,
    transport: HyperTransport,
    as_account: Option<AccountKey>,
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let dir = match cli.config {
        Some(dir) => dir,
        None => AccountsFile::default_location()
            .and_then(|p| p.parent().map(PathBuf::from))
            .ok_or_else(|| {
                Failure::usage("no config folder on this platform: pass --config DIR")
            })?,
    };
    let mut transport = HyperTransport::builder();
    if let Some(path) = &cli.ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        transport = transport.add_root_pem(&pem);
    }
    let ctx = Context {
        json: cli.json,
        verbose: cli.verbose,
        store: Arc::new(AccountsFile::open(dir.join("accounts.json"))),
        transport: transport
            .build()
            .map_err(|e| Failure::other(e.to_string()))?,
        as_account: cli
            .as_account
            .as_deref()
            .map(AccountKey::parse)
            .transpose()?,
    };
    match cli.command {
        Command::Login {
            instance,
            scopes,
            no_browser,
            oob,
            username,
            password_stdin,
        } => {
            let scopes = Scopes::parse(&scopes)?;
            let how = match (username, password_stdin, oob) {
                (Some(user), true, _) => How::Password(user),
                (_, _, true) => How::OutOfBand,
                _ => How::Browser { open: !no_browser },
            };
            login(&ctx, &instance, scopes, how).await
        }
        Command::Accounts => accounts(&ctx).await,
        Command::Use { account } => {
            let key = AccountKey::parse(&account)?;
            ctx.store.set_active_user(&key).await?;
            say(
                &ctx,
                &json!({ "active": key.as_str() }),
                &format!("Now using {key}"),
            );
            Ok(())
        }
        Command::Whoami => {
            let client = account_client(&ctx, ctx.as_account.clone()).await?;
            let account = client.account_verify_credentials().await?;
            let key = client.account().map(|k| k.to_string()).unwrap_or_default();
            say(
                &ctx,
                &json!({ "account": key, "id": account.id, "display_name": account.display_name, "url": account.url }),
                &format!(
                    "{key}{}",
                    if account.display_name.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", account.display_name)
                    }
                ),
            );
            Ok(())
        }
        Command::Token => {
            let user = load_user(&ctx, ctx.as_account.clone()).await?;
            // The one place a secret is printed: it is what this command is for.
            println!("{}", user.access_token.expose());
            Ok(())
        }
        Command::Logout { account } => {
            let key = account
                .as_deref()
                .map(AccountKey::parse)
                .transpose()?
                .or_else(|| ctx.as_account.clone());
            logout(&ctx, key).await
        }
        Command::ServerInfo { instance } => server_info(&ctx, &instance).await,
    }
}

enum How {
    Browser { open: bool },
    OutOfBand,
    Password(String),
}

fn say(ctx: &Context, json_value: &serde_json::Value, text: &str) {
    if ctx.json {
        println!("{json_value}");
    } else {
        println!("{text}");
    }
}

fn builder(ctx: &Context, instance: &str) -> mastodon_auth_core::MastodonBuilder {
    Mastodon::builder(instance)
        .transport(ctx.transport.clone())
        .rate_limiter(Pacer::new(RatelimitMethod::Wait))
        .user_agent(concat!("mastodon-auth-cli/", env!("CARGO_PKG_VERSION")))
        .debug_requests(ctx.verbose)
}

async fn load_user(
    ctx: &Context,
    key: Option<AccountKey>,
) -> Result<mastodon_auth_core::UserCredentials, Failure> {
    let user = match &key {
        Some(key) => ctx.store.load_user(key).await?,
        None => ctx.store.load_active_user().await?,
    };
    user.ok_or_else(|| match key {
        Some(key) => Failure::usage(format!("no account {key}: see `mastodon-auth accounts`")),
        None => Failure::usage("not logged in: run `mastodon-auth login --instance URL` first"),
    })
}

async fn account_client(ctx: &Context, key: Option<AccountKey>) -> Result<Mastodon, Failure> {
    let user = load_user(ctx, key).await?;
    let mut b = builder(ctx, user.instance.as_str()).shared_store(ctx.store.clone());
    if let Some(account) = user.account {
        b = b.account(account);
    }
    Ok(b.build().await?)
}

async fn login(ctx: &Context, instance: &str, scopes: Scopes, how: How) -> Result<(), Failure> {
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

async fn accounts(ctx: &Context) -> Result<(), Failure> {
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

async fn logout(ctx: &Context, key: Option<AccountKey>) -> Result<(), Failure> {
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

async fn server_info(ctx: &Context, instance: &str) -> Result<(), Failure> {
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
