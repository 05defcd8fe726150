//! Opening the authorization URL in the person's browser, and knowing whether that worked.
//!
//! Always print the URL as well: on a machine without a display (SSH, a container) no browser
//! can open, and the person opens the URL elsewhere.
//!
//! The openers tried, in order:
//!
//! 1. each command in `BROWSER` (`:`-separated; `%s` stands for the URL, which is appended
//!    when no `%s` is given), as xdg-utils and Python's `webbrowser` read it;
//! 2. the platform's opener: `xdg-open` on Linux and the BSDs — only when a graphical session
//!    is there (`DISPLAY` or `WAYLAND_DISPLAY` set) —, `open` on macOS,
//!    `rundll32 url.dll,FileProtocolHandler` on Windows.
//!
//! An opener that exits with a failure status, or cannot be started, counts as failed and the
//! next is tried. One that is still running after a short grace period is taken as the
//! browser itself, running: it is left to run.
//!
//! The URL is passed as an argument, so other local users may see it in a process list; the
//! [`loopback`](crate::loopback) module docs explain why that gives them nothing to use.

use std::fmt;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// How long an opener may run before it is taken to be the browser itself.
const GRACE: Duration = Duration::from_secs(3);

/// Opens `url` in the person's browser.
///
/// ```no_run
/// # async fn f(url: &str) {
/// eprintln!("Open this URL to authorize: {url}");
/// if let Err(e) = mastodon_auth::browser::open(url).await {
///     eprintln!("Could not open a browser ({e}); open the URL above yourself.");
/// }
/// # }
/// ```
///
/// # Errors
/// [`OpenError::NoDisplay`] when there is nothing to open a browser in;
/// [`OpenError::Failed`] when every opener failed.
pub async fn open(url: &str) -> Result<(), OpenError> {
    let session = Session {
        browser: std::env::var("BROWSER").ok(),
        graphical: ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty())),
    };
    open_in(&session, url).await
}

/// What [`open`] reads from the environment.
struct Session {
    browser: Option<String>,
    graphical: bool,
}

impl Session {
    /// Each opener as program and arguments, in the order to try them.
    fn openers(&self, url: &str) -> Vec<Vec<String>> {
        let mut openers: Vec<Vec<String>> = self
            .browser
            .iter()
            .flat_map(|b| b.split(':'))
            .filter(|entry| !entry.trim().is_empty())
            .map(|entry| {
                let mut words: Vec<String> = entry
                    .split_whitespace()
                    .map(|w| w.replace("%s", url))
                    .collect();
                if !entry.contains("%s") {
                    words.push(url.to_owned());
                }
                words
            })
            .collect();
        let platform: &[&str] = if cfg!(target_os = "macos") {
            &["open"]
        } else if cfg!(windows) {
            &["rundll32", "url.dll,FileProtocolHandler"]
        } else if self.graphical {
            &["xdg-open"]
        } else {
            &[]
        };
        if !platform.is_empty() {
            let mut words: Vec<String> = platform.iter().map(|&w| w.to_owned()).collect();
            words.push(url.to_owned());
            openers.push(words);
        }
        openers
    }
}

async fn open_in(session: &Session, url: &str) -> Result<(), OpenError> {
    let openers = session.openers(url);
    if openers.is_empty() {
        return Err(OpenError::NoDisplay);
    }
    let mut failures = Vec::new();
    for words in openers {
        let Some((program, args)) = words.split_first() else {
            continue;
        };
        match run(program, args).await {
            Ok(()) => return Ok(()),
            Err(reason) => failures.push(FailedOpener {
                program: program.clone(),
                reason,
            }),
        }
    }
    Err(OpenError::Failed(failures))
}

/// Runs one opener; `Err` says why it failed (never with its arguments, which hold the URL).
async fn run(program: &str, args: &[String]) -> Result<(), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "not found".to_owned(),
            _ => format!("cannot start: {e}"),
        })?;
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("failed ({status})")),
        Ok(Err(e)) => Err(format!("cannot wait for it: {e}")),
        // Still running: the browser itself, in the foreground. Dropping the handle leaves it
        // running; tokio reaps it when it exits.
        Err(_) => Ok(()),
    }
}

/// Why no browser was opened. Its text never contains the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// No graphical session (`DISPLAY` and `WAYLAND_DISPLAY` unset, on Linux and the BSDs)
    /// and no `BROWSER` command.
    NoDisplay,
    /// Every opener failed, in the order tried.
    Failed(Vec<FailedOpener>),
}

/// An opener that did not open the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedOpener {
    /// The program started (without its arguments).
    pub program: String,
    /// What went wrong: not found, or its exit status.
    pub reason: String,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDisplay => {
                f.write_str("no display to open a browser in (DISPLAY and WAYLAND_DISPLAY are unset, BROWSER too)")
            }
            Self::Failed(failures) => {
                f.write_str("no browser opened: ")?;
                for (i, failure) in failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{} {}", failure.program, failure.reason)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for OpenError {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const URL: &str = "https://social.example/oauth/authorize?state=S&scope=read";

    fn session(browser: Option<&str>, graphical: bool) -> Session {
        Session {
            browser: browser.map(str::to_owned),
            graphical,
        }
    }

    #[test]
    fn browser_commands_come_first_and_get_the_url() {
        let s = session(Some("firefox --new-tab:w3m %s -dump"), true);
        assert_eq!(
            s.openers(URL),
            vec![
                vec!["firefox".to_owned(), "--new-tab".to_owned(), URL.to_owned()],
                vec!["w3m".to_owned(), URL.to_owned(), "-dump".to_owned()],
                vec!["xdg-open".to_owned(), URL.to_owned()],
            ]
        );
    }

    #[tokio::test]
    async fn without_a_display_or_browser_nothing_is_tried() {
        assert_eq!(
            open_in(&session(None, false), URL).await,
            Err(OpenError::NoDisplay)
        );
    }

    #[tokio::test]
    async fn a_failing_opener_is_a_failure_that_hides_the_url() {
        let err = open_in(&session(Some("false:no-such-opener-here"), false), URL)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("no browser opened: false failed"),
            "{text}"
        );
        assert!(text.contains("no-such-opener-here not found"), "{text}");
        assert!(!text.contains("social.example"), "{text}");
    }

    #[tokio::test]
    async fn the_first_opener_that_succeeds_wins() {
        assert_eq!(
            open_in(&session(Some("false:true"), false), URL).await,
            Ok(())
        );
    }
}
