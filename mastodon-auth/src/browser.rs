//! Opening a URL in the person's browser.

use std::process::{Command, Stdio};

/// Tries to open `url` in the default browser; `false` when no opener could be started (the
/// caller should then print the URL).
#[must_use]
pub fn open(url: &str) -> bool {
    let candidates: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["explorer"]
    } else {
        &["xdg-open", "sensible-browser"]
    };
    candidates.iter().any(|opener| {
        Command::new(opener)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .is_ok()
    })
}
