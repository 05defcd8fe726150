//! `mastodon-auth`: log in to Mastodon instances and keep the accounts for scripts and bots.

#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
