//! Process-wide set-up: what a panic prints, and which log events reach stderr.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use super::failure::{Exit, Failure};
use super::output;

/// Set when the person asked for panic details: `-v` with `RUST_BACKTRACE` set.
static DETAILED_PANICS: AtomicBool = AtomicBool::new(false);

/// Makes a panic print one line instead of a message and a backtrace, unless the person set
/// `RUST_BACKTRACE` and `-v` (see [`init_logging`]).
pub(crate) fn quiet_panics() {
    let standard = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if DETAILED_PANICS.load(Ordering::Relaxed) {
            standard(info);
        } else {
            output::note(&panic_line(info.payload(), info.location()));
        }
    }));
}

/// The one line a panic prints.
fn panic_line(payload: &dyn Any, location: Option<&panic::Location<'_>>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic");
    let at = location
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    format!(
        "mastodon-auth: internal error: {what}{at} (a bug: please report it; -v with RUST_BACKTRACE=1 shows the details)"
    )
}

/// Runs `f`; a panic (already reported by the hook) becomes exit code 1.
pub(crate) fn catch_panic(f: impl FnOnce() -> Result<(), Failure>) -> Result<(), Failure> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(Failure::silent(Exit::Other)))
}

/// `-v`: debug events of this project's crates (their targets all start with
/// `mastodon_auth`), nothing from hyper, h2 or rustls. `RUST_LOG` adds directives, with or
/// without `-v`.
pub(crate) fn init_logging(verbose: bool) {
    let extra = std::env::var("RUST_LOG").unwrap_or_default();
    if verbose {
        DETAILED_PANICS.store(
            std::env::var_os("RUST_BACKTRACE").is_some(),
            Ordering::Relaxed,
        );
    } else if extra.trim().is_empty() {
        return;
    }
    let ours = if verbose { "mastodon_auth=debug" } else { "" };
    let filter = EnvFilter::builder().parse_lossy(format!("{ours},{extra}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_one_line_with_its_place() {
        let line = panic_line(&"boom", None);
        assert!(
            line.starts_with("mastodon-auth: internal error: boom (a bug"),
            "{line}"
        );
        let line = panic_line(&String::from("boom"), Some(panic::Location::caller()));
        assert!(
            line.contains("boom at mastodon-auth-cli/src/cli/process.rs:"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert!(panic_line(&42u8, None).contains("internal error: a panic"));
    }
}
