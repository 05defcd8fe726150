//! `mastodon-auth`: log in to Mastodon instances and keep the accounts for scripts and bots.

fn main() -> std::process::ExitCode {
    mastodon_auth_examples::cli::main()
}
