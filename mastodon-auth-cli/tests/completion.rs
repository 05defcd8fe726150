//! Shell completion, driven through the shells themselves: bash's completion function with
//! `COMP_WORDS`/`COMP_CWORD` as bash sets them on <TAB>, and fish's `complete -C`, when fish
//! is installed.

mod common;

use std::path::Path;
use std::process::Command;

use common::{binary, run, seed_accounts};

/// A config folder with two accounts, `bob@…` active.
fn two_accounts(config: &Path) {
    seed_accounts(
        config,
        &[
            ("alice@social.example", "https://social.example", "a"),
            ("bob@social.example", "https://social.example", "b"),
        ],
        Some("bob@social.example"),
    );
}

/// The script `completions <shell>` prints, in a file.
async fn script(dir: &Path, shell: &str) -> std::path::PathBuf {
    let mut cmd = binary(&dir.join("unused"));
    cmd.args(["completions", shell]);
    let (code, out, err) = run(cmd, "").await;
    assert_eq!(code, 0, "{err}");
    let path = dir.join(format!("completion.{shell}"));
    std::fs::write(&path, out).unwrap();
    path
}

fn installed(shell: &str) -> bool {
    Command::new(shell)
        .arg("-c")
        .arg("exit 0")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What bash offers for `line` (completing its last word, empty after a trailing space).
fn bash_completes(script: &Path, line: &str) -> Vec<String> {
    let mut words: Vec<&str> = line.split(' ').collect();
    let current = words.len() - 1;
    let previous = words.get(current.wrapping_sub(1)).copied().unwrap_or("");
    let last = words[current];
    let quoted: Vec<String> = words.drain(..).map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={current}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         _clap_complete_mastodon_auth mastodon-auth '{last}' '{previous}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .env_remove("MASTODON_AUTH_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test]
async fn bash_completes_flags_after_the_subcommand_and_account_names() {
    if !installed("bash") {
        eprintln!("skipped: bash is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    two_accounts(&config);
    let script = script(dir.path(), "bash").await;
    let config = config.display().to_string();

    // clap-rs/clap#6421: the generated script completed nothing here.
    assert_eq!(
        bash_completes(&script, "mastodon-auth login --i"),
        ["--instance"]
    );
    assert!(bash_completes(&script, "mastodon-auth stat").contains(&"status".to_owned()));
    let line = format!("mastodon-auth --config {config} use ");
    let offered = bash_completes(&script, &line);
    assert!(
        offered.contains(&"alice@social.example".to_owned()),
        "{offered:?}"
    );
    assert!(
        offered.contains(&"bob@social.example".to_owned()),
        "{offered:?}"
    );
    let line = format!("mastodon-auth --config {config} logout al");
    assert_eq!(bash_completes(&script, &line), ["alice@social.example"]);
    let line = format!("mastodon-auth --config={config} token --as b");
    assert_eq!(bash_completes(&script, &line), ["bob@social.example"]);
}

#[tokio::test]
async fn fish_completes_flags_and_account_names() {
    if !installed("fish") {
        eprintln!("skipped: fish is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    two_accounts(&config);
    let script = script(dir.path(), "fish").await;
    let complete = |line: &str| -> String {
        let out = Command::new("fish")
            .arg("--no-config")
            .arg("-c")
            .arg(format!(
                "source '{}'; complete -C '{line}'",
                script.display()
            ))
            .env("MASTODON_AUTH_CONFIG", &config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(complete("mastodon-auth login --i").contains("--instance"));
    let offered = complete("mastodon-auth use ");
    assert!(offered.contains("alice@social.example"), "{offered}");
    assert!(offered.contains("bob@social.example\tactive"), "{offered}");
}

#[tokio::test]
async fn zsh_loads_the_script_without_an_error() {
    if !installed("zsh") {
        eprintln!("skipped: zsh is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = script(dir.path(), "zsh").await;
    let out = Command::new("zsh")
        .arg("-f")
        .arg("-c")
        .arg(format!(
            "autoload -U compinit && compinit -u && source '{}' && whence -w _clap_dynamic_completer_mastodon_auth",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
