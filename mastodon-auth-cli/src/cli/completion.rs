//! Shell completion: the shell asks the binary itself what may come next, so subcommands,
//! flags and the names of the stored accounts (`use`, `logout`, `--as`) complete in bash, zsh,
//! fish, elvish and PowerShell from one source, the parser.
//!
//! A script generated ahead of time could not know the accounts, and clap_complete's bash
//! generator loses every flag after the subcommand for a binary whose name has a hyphen
//! (clap-rs/clap#6421: the loop sets `cmd="mastodon__auth__subcmd__login"`, the case arm
//! reads `mastodon__subcmd__auth__subcmd__login`). The shell's side is a small function that
//! runs `MASTODON_AUTH_COMPLETE=<shell> mastodon-auth -- <words>`; `completions <shell>`
//! prints it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

use clap_complete::CompletionCandidate;
use clap_complete::env::{CompleteEnv, Shells};
use mastodon_auth::{AccountDirectory, AccountsFile};

use super::{CONFIG_ENV, context};

/// The variable that makes the binary answer a completion request instead of running.
/// Named for this tool, so that a `COMPLETE` set for another program changes nothing here.
pub(crate) const COMPLETE_ENV: &str = "MASTODON_AUTH_COMPLETE";

/// The binary's name, as the shell's `complete` registers it.
const BIN: &str = "mastodon-auth";

/// The `--config` of the command line being completed, when it has one.
static CONFIG_IN_LINE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Answers a completion request and exits, when the shell made one; returns otherwise.
pub(crate) fn answer_if_asked() {
    if std::env::var_os(COMPLETE_ENV).is_none_or(|v| v.is_empty() || v == "0") {
        return;
    }
    let words: Vec<OsString> = std::env::args_os().collect();
    let _ = CONFIG_IN_LINE.set(config_in(&words));
    CompleteEnv::with_factory(super::command)
        .var(COMPLETE_ENV)
        .bin(BIN)
        .complete();
}

/// The shell's side for `shell` (`bash`, `zsh`, `fish`, `elvish`, `powershell`), calling
/// back `completer` (how this binary was started).
pub(crate) fn registration(shell: clap_complete::Shell, completer: &str) -> Vec<u8> {
    let name = shell.to_string();
    let mut script = Vec::new();
    let shells = Shells::builtins();
    if let Some(adapter) = shells.completer(&name) {
        // Writing to a Vec cannot fail.
        let _ = adapter.write_registration(COMPLETE_ENV, BIN, BIN, completer, &mut script);
    }
    script
}

/// The stored accounts, the active one described as such. Nothing when the accounts file
/// cannot be read: a completion never prints an error into the person's command line.
pub(crate) fn accounts() -> Vec<CompletionCandidate> {
    let Some(dir) = CONFIG_IN_LINE
        .get()
        .cloned()
        .flatten()
        .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from))
        .or_else(context::default_config_dir)
    else {
        return Vec::new();
    };
    let store = AccountsFile::open(dir.join(context::ACCOUNTS_FILE));
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return Vec::new();
    };
    runtime.block_on(async {
        let Ok(accounts) = store.list_users().await else {
            return Vec::new();
        };
        let active = store.active_user().await.ok().flatten();
        accounts
            .into_iter()
            .map(|key| {
                let candidate = CompletionCandidate::new(key.as_str());
                if active.as_ref() == Some(&key) {
                    candidate.help(Some("active".into()))
                } else {
                    candidate
                }
            })
            .collect()
    })
}

/// The value of `--config DIR` or `--config=DIR` among the words being completed.
fn config_in(words: &[OsString]) -> Option<PathBuf> {
    let mut words = words.iter();
    while let Some(word) = words.next() {
        if word == "--config" {
            return words.next().map(PathBuf::from);
        }
        if let Some(dir) = word.to_str().and_then(|w| w.strip_prefix("--config=")) {
            return Some(PathBuf::from(dir));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_folder_is_read_from_the_line_being_completed() {
        let words = |line: &str| -> Vec<OsString> { line.split(' ').map(Into::into).collect() };
        assert_eq!(
            config_in(&words(
                "mastodon-auth -- mastodon-auth --config /tmp/x use "
            )),
            Some(PathBuf::from("/tmp/x"))
        );
        assert_eq!(
            config_in(&words("mastodon-auth -- mastodon-auth --config=/tmp/y use")),
            Some(PathBuf::from("/tmp/y"))
        );
        assert_eq!(
            config_in(&words("mastodon-auth -- mastodon-auth use")),
            None
        );
    }

    #[test]
    fn every_shell_gets_a_script_that_calls_back_the_binary() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::Elvish,
            clap_complete::Shell::PowerShell,
        ] {
            let script = String::from_utf8(registration(shell, "/opt/bin/mastodon-auth")).unwrap();
            assert!(script.contains(COMPLETE_ENV), "{shell}: {script}");
            assert!(
                script.contains("/opt/bin/mastodon-auth"),
                "{shell}: {script}"
            );
        }
    }
}
