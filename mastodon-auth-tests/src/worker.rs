//! Worker processes: the running test binary started again to run one `#[ignore]`d test,
//! which finds its settings in an environment variable and prints one tagged line of results.
//! A fleet (processes sharing one store or one rate budget) is tested with real processes.

use std::fmt;
use std::process::{Child, Command, Stdio};

/// A worker process running one test of the current test binary.
///
/// The worker is an `#[ignore]`d test of the same binary that returns at once unless its
/// environment variable is set (so `cargo test` and `cargo test -- --ignored` pass it by); the
/// test that spawns it passes its settings in that variable and reads back the line the
/// worker prints after a tag.
///
/// ```no_run
/// use mastodon_auth_tests::Worker;
///
/// const SETUP: &str = "MY_CRATE_WORKER";
///
/// // #[test]
/// // #[ignore = "a worker process, started by `many_processes`"]
/// fn worker() {
///     let Ok(setup) = std::env::var(SETUP) else { return };
///     // ... does its part of the work, then prints one tagged line:
///     println!("my-worker ok {setup}");
/// }
///
/// // #[test]
/// fn many_processes() {
///     let workers: Vec<_> = (0..4).map(|i| Worker::spawn("worker", SETUP, &i.to_string())).collect();
///     for (i, worker) in workers.into_iter().enumerate() {
///         assert_eq!(worker.report("my-worker"), format!("ok {i}"));
///     }
/// }
/// # fn main() { worker(); many_processes(); }
/// ```
pub struct Worker(Child);

impl Worker {
    /// Starts the test binary again to run only the ignored test `test`, with `setup` in the
    /// environment variable `var` (the test returns at once without it) and its standard
    /// output captured.
    ///
    /// # Panics
    /// When the test binary cannot be started again.
    pub fn spawn(test: &str, var: &str, setup: &str) -> Self {
        let exe = std::env::current_exe().expect("the test binary's path");
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
            .expect("the test binary starts again");
        Self(child)
    }

    /// Waits for the worker and returns what follows `<tag> ` on the line of its output that
    /// holds it.
    ///
    /// # Panics
    /// When the worker failed or printed no such line; the message holds its output.
    pub fn report(self, tag: &str) -> String {
        let output = self.0.wait_with_output().expect("waiting for a worker");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "worker failed: {stdout}");
        let prefix = format!("{tag} ");
        stdout
            .lines()
            .find_map(|l| Some(l.split_once(&prefix)?.1.to_owned()))
            .unwrap_or_else(|| panic!("no result from a worker: {stdout}"))
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker").field("pid", &self.0.id()).finish()
    }
}
