//! A child process spoken to in lines over its stdin and stdout: the server child and the
//! Mastodon.py driver both work this way. Dropping it closes stdin (the child's cue to stop),
//! then kills the child if it has not gone within a second.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::runtime::BoxError;

/// Selects what this process does: unset for the bench itself, or `server`, `coldstart`,
/// `accounts` for the child processes it starts.
pub(crate) const ROLE_ENV: &str = "MASTODON_AUTH_BENCH_ROLE";

pub(crate) struct LineChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Names the child in errors ("the server child", "the Mastodon.py driver").
    name: &'static str,
}

impl LineChild {
    /// Starts `command` with piped stdin and stdout; stderr goes to ours.
    pub(crate) fn spawn(command: &mut Command, name: &'static str) -> Result<Self, BoxError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name} has no stdin/stdout pipe").into());
        };
        Ok(Self {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            name,
        })
    }

    /// Writes one line.
    pub(crate) fn send(&mut self, line: &str) -> Result<(), BoxError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}'s stdin is closed", self.name))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Reads one line; an error when the child has exited.
    pub(crate) fn read_line(&mut self) -> Result<String, BoxError> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(format!("{} exited (see its message above)", self.name).into());
        }
        Ok(line)
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        self.stdin.take();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
