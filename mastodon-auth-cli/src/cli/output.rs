//! Everything the tool prints goes through here: text is escaped so that no server-supplied
//! string can drive the terminal, JSON is printed exactly, and a closed or full stdout is a
//! clean ending instead of a panic.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::failure::Failure;

/// Where results go: stdout, as text or as JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    /// `--json`.
    pub(crate) json: bool,
}

impl Output {
    /// Prints `value` in JSON mode, else `lines`, each escaped (so a server's newline cannot
    /// forge a line either).
    pub(crate) fn say<S: AsRef<str>>(
        self,
        value: &serde_json::Value,
        lines: &[S],
    ) -> Result<(), Failure> {
        if self.json {
            raw(format!("{value}\n").as_bytes())
        } else {
            let mut out = String::new();
            for line in lines {
                out.push_str(&escape(line.as_ref()));
                out.push('\n');
            }
            raw(out.as_bytes())
        }
    }
}

/// Prints bytes as they are (JSON, a completion script).
pub(crate) fn raw(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| write_failure(&e))
}

/// Flushes stdout at the end (anything still buffered surfaces its error here).
pub(crate) fn flush() -> Result<(), Failure> {
    io::stdout().flush().map_err(|e| write_failure(&e))
}

fn write_failure(e: &io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::stdout_closed()
    } else {
        Failure::other(format!("cannot write to standard output: {e}"))
    }
}

/// Says one line on stderr, escaped. A stderr that cannot be written to is ignored: there is
/// nowhere left to report it.
pub(crate) fn note(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{}", escape(line));
}

/// Shows control characters (C0, DEL, C1) and Unicode bidirectional controls visibly as
/// `\u{…}`, so that text from a server (a display name, a version, an error description)
/// cannot clear the screen, set the window title or reorder what the person reads. The one
/// escaping function for everything printed as text.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || mastodon_auth::is_bidi_control(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_sent() {
        assert_eq!(
            escape("Bob\u{1b}[2J\u{1b}]0;owned\u{7}"),
            "Bob\\u{1b}[2J\\u{1b}]0;owned\\u{7}"
        );
        assert_eq!(escape("a\u{202e}b\u{2066}c"), "a\\u{202e}b\\u{2066}c");
        assert_eq!(
            escape("\u{9b}31m\u{7f}\t\n"),
            "\\u{9b}31m\\u{7f}\\u{9}\\u{a}"
        );
    }

    #[test]
    fn ordinary_text_is_untouched_and_not_copied() {
        for text in ["alice@mastodon.social (Alice)", "Zoë 🐘 日本語", "عربي"] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
        }
    }
}
