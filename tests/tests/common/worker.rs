//! Worker processes: the running test binary started again to run one `#[ignore]`d test,
//! which finds its settings in an environment variable and prints one tagged line of results.

use std::process::{Child, Command, Stdio};

/// A worker process running one test of this test binary.
pub(crate) struct Worker(Child);

impl Worker {
    /// Starts the test binary again to run only the ignored test `test`, with `setup` in the
    /// environment variable `var` (the test returns at once without it) and its standard
    /// output captured.
    pub(crate) fn spawn(test: &str, var: &str, setup: &str) -> Self {
        let exe = std::env::current_exe().unwrap();
        let child = Command::new(exe)
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(var, setup)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// Waits for the worker and returns what follows `<tag> ` on the line of its output that
    /// holds it.
    ///
    /// # Panics
    /// When the worker failed or printed no such line; the message holds its output.
    pub(crate) fn report(self, tag: &str) -> String {
        let output = self.0.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "worker failed: {stdout}");
        let prefix = format!("{tag} ");
        stdout
            .lines()
            .find_map(|l| Some(l.split_once(&prefix)?.1.to_owned()))
            .unwrap_or_else(|| panic!("no result from a worker: {stdout}"))
    }
}
