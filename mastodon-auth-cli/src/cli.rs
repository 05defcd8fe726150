//! The `mastodon-auth` command-line tool: log in (browser with a loopback callback, an
//! out-of-band code, a token made in the web interface, or a password on servers that still
//! allow it), keep many accounts in one file, switch between them, check them, print the
//! active token for scripts, log out.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use clap_complete::ArgValueCandidates;

mod accounts;
mod completion;
mod context;
mod failure;
mod login;
mod output;
mod process;
mod secret_input;
mod server_info;
mod status;
mod suggest;
mod trust;

use context::Context;
use failure::{Exit, Failure};

/// The environment variable that sets the config folder.
const CONFIG_ENV: &str = "MASTODON_AUTH_CONFIG";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "mastodon-auth",
    version,
    about = "Log in to Mastodon instances and keep the accounts for scripts and bots"
)]
struct Cli {
    /// Folder holding accounts.json and remembered CA certificates.
    #[arg(long, global = true, value_name = "DIR", env = CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Act as this account instead of the active one.
    #[arg(long = "as", global = true, value_name = "USER@INSTANCE", add = ArgValueCandidates::new(completion::accounts))]
    as_account: Option<String>,
    /// Machine-readable output (JSON on stdout).
    #[arg(long, global = true)]
    json: bool,
    /// Log this tool's requests (secrets redacted) to stderr; RUST_LOG adds more.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Also trust this CA certificate (PEM, at most 1 MiB), for private instances; remembered
    /// for the instance at login.
    #[arg(long, global = true, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Log in to an instance (registers this tool with it once).
    Login(LoginArgs),
    /// List the accounts, marking the active one (reads only the accounts file).
    Accounts,
    /// Make an account the active one.
    Use {
        /// The account, as user@instance.
        #[arg(add = ArgValueCandidates::new(completion::accounts))]
        account: String,
    },
    /// Ask the server who the active account is.
    Whoami,
    /// Check every account: does its token still work, its scopes, the instance's version.
    Status,
    /// Print the active account's access token, alone, for scripts.
    Token,
    /// Revoke an account's token and forget the account.
    Logout {
        /// The account (default: the active one).
        #[arg(add = ArgValueCandidates::new(completion::accounts))]
        account: Option<String>,
        /// Forget the account without revoking its token (when the server cannot be reached).
        #[arg(long)]
        local: bool,
    },
    /// What an instance supports: OAuth endpoints, grants, PKCE, version.
    ServerInfo {
        /// The instance.
        instance: String,
    },
    /// Print the shell code that completes subcommands, flags and account names.
    ///
    /// The code asks this binary what may come next. For example, in ~/.bashrc:
    /// `source <(mastodon-auth completions bash)`; zsh: `source <(mastodon-auth completions
    /// zsh)` in ~/.zshrc; fish: `mastodon-auth completions fish | source` in
    /// ~/.config/fish/config.fish.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `login`'s options, as clap reads them; [`login::How`] is the one way they pick.
#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // Each flag is a command-line switch.
struct LoginArgs {
    /// The instance, e.g. mastodon.social.
    #[arg(long)]
    instance: String,
    /// Space-separated scopes.
    #[arg(long, default_value = "read write follow push")]
    scopes: String,
    /// Do not try to open a browser; only print the URL.
    #[arg(long)]
    no_browser: bool,
    /// How long to wait for the browser to come back (e.g. 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    /// Out of band: print the URL, then read the code the server shows from stdin.
    #[arg(long, conflicts_with_all = ["no_browser", "timeout"])]
    oob: bool,
    /// Read an access token made in the instance's web interface (Preferences → Development)
    /// from stdin, check it, and keep it.
    #[arg(long, conflicts_with_all = ["no_browser", "timeout", "oob", "username", "scopes"])]
    with_token: bool,
    /// E-mail for the password grant (servers before Mastodon 4.4).
    #[arg(long, requires = "password_stdin", conflicts_with_all = ["oob", "no_browser", "timeout"])]
    username: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long, requires = "username")]
    password_stdin: bool,
}

/// Parses `90`, `90s`, `1500ms`, `5m`, `1h` (a bare number is seconds).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 90s or 5m"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("unknown unit {unit:?}: use ms, s, m or h")),
    };
    if duration.is_zero() {
        return Err("the timeout must be longer than zero".into());
    }
    Ok(duration)
}

/// The parser with what is only known at run time: the default config folder and the exit
/// code table.
fn command() -> clap::Command {
    let mut cmd = Cli::command().after_help(failure::exit_code_help());
    if let Some(dir) = context::default_config_dir() {
        let dir = dir.display().to_string();
        cmd = cmd.mut_arg("config", |a| a.default_value(dir));
    }
    cmd
}

/// Runs the tool with the process's arguments.
#[must_use]
pub(crate) fn main() -> ExitCode {
    process::quiet_panics();
    completion::answer_if_asked();
    let cli = match command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            // clap formats help, version and usage errors itself.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            });
        }
    };
    process::init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::note(&format!(
                "mastodon-auth: cannot start the async runtime: {e}"
            ));
            return ExitCode::from(Exit::Other.code());
        }
    };
    let result = process::catch_panic(|| runtime.block_on(run(cli)));
    let result = result.and_then(|()| output::flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = Context::new(
        cli.config,
        cli.json,
        cli.verbose,
        cli.ca_cert,
        cli.as_account.as_deref(),
    )?;
    match cli.command {
        Command::Login(args) => {
            let scopes = login::known_scopes(&args.scopes)?;
            let how = match (args.username, args.oob, args.with_token) {
                (Some(user), _, _) => login::How::Password(user),
                (_, true, _) => login::How::OutOfBand,
                (_, _, true) => return login::with_token(&ctx, &args.instance).await,
                _ => login::How::Browser {
                    open: !args.no_browser,
                    timeout: args.timeout,
                },
            };
            login::login(&ctx, &args.instance, scopes, how).await
        }
        Command::Accounts => accounts::list(&ctx).await,
        Command::Use { account } => accounts::switch(&ctx, &account).await,
        Command::Whoami => accounts::whoami(&ctx).await,
        Command::Status => status::status(&ctx).await,
        Command::Token => accounts::token(&ctx).await,
        Command::Logout { account, local } => {
            accounts::logout(&ctx, account.as_deref(), local).await
        }
        Command::ServerInfo { instance } => server_info::server_info(&ctx, &instance).await,
        Command::Completions { shell } => {
            if ctx.out.json {
                return Err(Failure::usage(
                    "completions prints a shell script: --json does not apply",
                ));
            }
            // The shell calls back this very binary, wherever it was started from.
            let completer = std::env::current_exe()
                .ok()
                .and_then(|p| p.to_str().map(str::to_owned))
                .unwrap_or_else(|| "mastodon-auth".to_owned());
            output::raw(&completion::registration(shell, &completer))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn the_parser_is_consistent() {
        command().debug_assert();
    }
}
