//! The `mastodon-auth` command-line tool: log in (browser with a loopback callback, an
//! out-of-band code, or a password on servers that still allow it), keep many accounts in
//! one file, switch between them, print the active token for scripts, log out.
//!
//! Exit codes: 0 ok, 2 usage, 3 authentication, 4 network, 5 rate limit, 1 anything else.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use mastodon_auth::{
    AccountDirectory, AccountKey, AccountsFile, CredentialStore, HyperTransport, Mastodon, Pacer,
    RateLimitMethod, Scopes,
};
use serde_json::json;

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

mod accounts;
mod failure;
mod login;
mod server_info;

use failure::Failure;

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
                (Some(user), true, _) => login::How::Password(user),
                (_, _, true) => login::How::OutOfBand,
                _ => login::How::Browser { open: !no_browser },
            };
            login::login(&ctx, &instance, scopes, how).await
        }
        Command::Accounts => accounts::accounts(&ctx).await,
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
            accounts::logout(&ctx, key).await
        }
        Command::ServerInfo { instance } => server_info::server_info(&ctx, &instance).await,
    }
}

fn say(ctx: &Context, json_value: &serde_json::Value, text: &str) {
    if ctx.json {
        println!("{json_value}");
    } else {
        println!("{text}");
    }
}

fn builder(ctx: &Context, instance: &str) -> mastodon_auth::MastodonBuilder {
    Mastodon::builder(instance)
        .transport(ctx.transport.clone())
        .rate_limiter(Pacer::new(RateLimitMethod::Wait))
        .user_agent(concat!("mastodon-auth-cli/", env!("CARGO_PKG_VERSION")))
        .debug_requests(ctx.verbose)
}

async fn load_user(
    ctx: &Context,
    key: Option<AccountKey>,
) -> Result<mastodon_auth::UserCredentials, Failure> {
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
