//! `mastodon-auth`: log in to Mastodon instances and keep the accounts for scripts and bots.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
