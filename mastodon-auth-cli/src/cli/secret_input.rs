//! Reading a secret (a password, an authorization code, an access token) from stdin: one
//! bounded line, never echoed when stdin is a terminal.
//!
//! A secret typed at a terminal with echo on shows on screen, stays in the scrollback and in
//! whatever records the session (`script`, tmux's logs), so echo is off while it is read, as
//! getpass(3) does. Ctrl-C while echo is off puts the terminal back before the process ends.
//! Piped input is read up to [`MAX_SECRET_BYTES`]: a secret is short, and an unbounded read
//! of whatever is piped in could exhaust memory.

use std::io::{self, BufRead, IsTerminal};

use super::failure::Failure;
use super::output::note;

/// The longest secret accepted, without its line end. Tokens and codes are tens of bytes;
/// 64 KiB leaves room for any password while bounding what a mistaken pipe can make the
/// process hold.
pub(crate) const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Reads one line from stdin (prompting on stderr when it is a terminal, with echo off),
/// without echoing it anywhere. Only the line end is removed: a password may begin or end
/// with a space.
pub(crate) fn read_secret_line(what: &str) -> Result<String, Failure> {
    let stdin = io::stdin();
    let line = if stdin.is_terminal() {
        note(&format!("Enter the {what}:"));
        let _echo_off = terminal::EchoOff::new(&stdin);
        read_bounded_line(stdin.lock(), what)
    } else {
        read_bounded_line(stdin.lock(), what)
    }?;
    if line.is_empty() {
        return Err(Failure::usage(format!("no {what} on stdin")));
    }
    Ok(line)
}

/// One line of `input`, refused when it is longer than [`MAX_SECRET_BYTES`] or not UTF-8.
fn read_bounded_line(input: impl BufRead, what: &str) -> Result<String, Failure> {
    let mut line = Vec::new();
    // One byte more than allowed, and the line end: enough to tell "too long" from "exactly
    // the limit" without reading further.
    let limit = MAX_SECRET_BYTES as u64 + 2;
    input
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|e| Failure::usage(format!("cannot read the {what} from stdin: {e}")))?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_SECRET_BYTES {
        return Err(Failure::usage(format!(
            "the {what} on stdin is longer than {} KiB: pipe in the {what} alone, on one line",
            MAX_SECRET_BYTES / 1024
        )));
    }
    String::from_utf8(line)
        .map_err(|_| Failure::usage(format!("the {what} on stdin is not UTF-8 text")))
}

#[cfg(unix)]
mod terminal {
    use std::io::{Stdin, Write as _};
    use std::sync::{Mutex, Once, PoisonError};

    use rustix::termios::{self, LocalModes, OptionalActions, Termios};

    /// The terminal settings to restore if the process is interrupted while echo is off.
    static SAVED: Mutex<Option<Termios>> = Mutex::new(None);
    static WATCH_INTERRUPT: Once = Once::new();

    /// Echo off (the line end still echoed, as getpass(3) does) until dropped.
    pub(super) struct EchoOff<'a> {
        stdin: &'a Stdin,
    }

    impl<'a> EchoOff<'a> {
        /// Turns echo off on `stdin`'s terminal. Where the terminal refuses (not a real
        /// terminal after all), the read goes on as it would have: the guard does nothing.
        pub(super) fn new(stdin: &'a Stdin) -> Option<Self> {
            let before = termios::tcgetattr(stdin).ok()?;
            let mut quiet = before.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            quiet.local_modes.insert(LocalModes::ECHONL);
            *SAVED.lock().unwrap_or_else(PoisonError::into_inner) = Some(before);
            watch_interrupt();
            if termios::tcsetattr(stdin, OptionalActions::Now, &quiet).is_err() {
                SAVED.lock().unwrap_or_else(PoisonError::into_inner).take();
                return None;
            }
            Some(Self { stdin })
        }
    }

    impl Drop for EchoOff<'_> {
        fn drop(&mut self) {
            if let Some(before) = SAVED.lock().unwrap_or_else(PoisonError::into_inner).take() {
                let _ = termios::tcsetattr(self.stdin, OptionalActions::Now, &before);
            }
        }
    }

    /// Ctrl-C would end the process with echo still off, leaving the person's shell blind.
    /// Once a secret has been asked for, SIGINT puts the saved settings back and exits with
    /// 130, the status a shell reports for a process ended by SIGINT.
    fn watch_interrupt() {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        WATCH_INTERRUPT.call_once(|| {
            runtime.spawn(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    if let Some(before) =
                        SAVED.lock().unwrap_or_else(PoisonError::into_inner).take()
                    {
                        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &before);
                    }
                    let _ = writeln!(std::io::stderr());
                    std::process::exit(130);
                }
            });
        });
    }
}

#[cfg(not(unix))]
mod terminal {
    /// Elsewhere the terminal keeps its settings (the console's echo is not controlled here).
    pub(super) struct EchoOff;

    impl EchoOff {
        pub(super) fn new(_stdin: &std::io::Stdin) -> Option<Self> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn read(input: &[u8]) -> Result<String, String> {
        read_bounded_line(Cursor::new(input), "token")
            .map_err(|e| e.message().unwrap_or_default().to_owned())
    }

    #[test]
    fn only_the_line_end_is_removed() {
        assert_eq!(read(b" pass word \r\nnext line").unwrap(), " pass word ");
        assert_eq!(read(b"no line end").unwrap(), "no line end");
        assert_eq!(read(b"").unwrap(), "");
    }

    #[test]
    fn a_secret_of_exactly_the_limit_is_accepted() {
        let mut input = vec![b'a'; MAX_SECRET_BYTES];
        assert_eq!(read(&input).unwrap().len(), MAX_SECRET_BYTES);
        input.extend_from_slice(b"\r\n");
        assert_eq!(read(&input).unwrap().len(), MAX_SECRET_BYTES);
    }

    #[test]
    fn a_longer_secret_is_refused_without_reading_the_rest() {
        let input = vec![b'a'; 10 * MAX_SECRET_BYTES];
        let mut cursor = Cursor::new(&input[..]);
        let e = read_bounded_line(&mut cursor, "token").unwrap_err();
        let message = e.message().unwrap();
        assert!(message.contains("longer than 64 KiB"), "{message}");
        assert!(cursor.position() <= MAX_SECRET_BYTES as u64 + 2);
        let long_line = [&vec![b'a'; MAX_SECRET_BYTES + 1][..], b"\n"].concat();
        assert!(read(&long_line).is_err());
    }

    #[test]
    fn a_secret_that_is_not_utf8_is_refused() {
        assert!(read(b"\xff\xfe\n").unwrap_err().contains("not UTF-8"));
    }
}
