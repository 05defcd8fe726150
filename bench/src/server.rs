//! The instances under load live in a child process (this binary again, in the `server`
//! role), so that the parent's CPU time is the client's alone.
//!
//! Protocol on the child's stdin/stdout, one JSON object per line: the child first prints
//! `{"https": URL, "http": URL, "ca_pem": PEM}`; then, for each `{"approve": "https"|"http",
//! "url": AUTHORIZE_URL}` it reads, it answers `{"code": CODE}` or `{"error": TEXT}`. It stops
//! when its stdin closes (the parent exited or dropped it).

use std::io::{BufRead, Write};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use mastodon_auth_tests::{Approval, LocalInstance};
use serde_json::{Value, json};

use crate::child::LineChild;
use crate::child::ROLE_ENV;
use crate::clients::Target;
use crate::runtime::{BoxError, runtime};

/// High enough that the instance's throttle never answers 429 during the bench.
pub(crate) const UNTHROTTLED: u32 = 10_000_000;

/// Runs the server role until stdin closes.
pub(crate) fn serve() -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_async()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_async() -> Result<(), BoxError> {
    let start = |https: bool| {
        LocalInstance::builder()
            .https(https)
            .rate_limit(UNTHROTTLED, Duration::from_secs(300))
            // The bench sends millions of requests; the log would grow without bound and
            // charge each request for copying its headers.
            .record_requests(false)
            .start()
    };
    let https = Arc::new(start(true).await?);
    let http = Arc::new(start(false).await?);
    let hello = json!({
        "https": https.base_url(),
        "http": http.base_url(),
        "ca_pem": https.ca_certificate_pem(),
    });
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{hello}")?;
        out.flush()?;
    }
    // The request log grows with every request; the bench never reads it.
    let trim = {
        let (https, http) = (https.clone(), http.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                https.clear_requests();
                http.clear_requests();
            }
        })
    };
    let commands = tokio::task::spawn_blocking(move || answer_commands(&https, &http)).await;
    trim.abort();
    commands?
}

fn answer_commands(https: &LocalInstance, http: &LocalInstance) -> Result<(), BoxError> {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(cmd) => {
                let instance = match cmd["approve"].as_str() {
                    Some("https") => Some(https),
                    Some("http") => Some(http),
                    _ => None,
                };
                match (instance, cmd["url"].as_str()) {
                    (Some(instance), Some(url)) => match instance.approve(url) {
                        Ok(Approval::OutOfBand { code }) => json!({ "code": code }),
                        Ok(other) => json!({ "error": format!("unexpected approval {other:?}") }),
                        Err(e) => json!({ "error": format!("{}: {}", e.error, e.description) }),
                    },
                    _ => {
                        json!({ "error": "expected {\"approve\": \"https\"|\"http\", \"url\": ...}" })
                    }
                }
            }
            Err(e) => json!({ "error": format!("not JSON: {e}") }),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

/// The parent's handle on the server child; dropping it stops the child.
pub(crate) struct ServerProcess {
    io: LineChild,
    /// `https://127.0.0.1:PORT`
    https_url: String,
    /// `http://127.0.0.1:PORT`
    http_url: String,
    /// The test CA of the HTTPS instance.
    ca_pem: String,
}

impl ServerProcess {
    /// Starts the child and waits for its addresses.
    pub(crate) fn spawn() -> Result<Self, BoxError> {
        let exe = std::env::current_exe()?;
        let mut io = LineChild::spawn(
            Command::new(exe).env(ROLE_ENV, "server"),
            "the server child",
        )?;
        let hello: Value = serde_json::from_str(&io.read_line()?)?;
        let field = |name: &str| -> Result<String, BoxError> {
            hello[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("the server child's greeting lacks `{name}`").into())
        };
        Ok(Self {
            https_url: field("https")?,
            http_url: field("http")?,
            ca_pem: field("ca_pem")?,
            io,
        })
    }

    /// The HTTPS instance (trusting its test CA), or the plain-HTTP one.
    pub(crate) fn target(&self, https: bool) -> Target {
        Target {
            base_url: if https {
                self.https_url.clone()
            } else {
                self.http_url.clone()
            },
            ca_pem: self.ca_pem.clone(),
        }
    }

    /// Has the child's instance play the user and approve `authorize_url` (an out-of-band
    /// request); returns the authorization code.
    pub(crate) fn approve(&mut self, https: bool, authorize_url: &str) -> Result<String, BoxError> {
        let cmd = json!({ "approve": if https { "https" } else { "http" }, "url": authorize_url });
        self.io.send(&cmd.to_string())?;
        let reply: Value = serde_json::from_str(&self.io.read_line()?)?;
        match (reply["code"].as_str(), reply["error"].as_str()) {
            (Some(code), _) => Ok(code.to_owned()),
            (None, Some(e)) => Err(format!("the instance refused to approve: {e}").into()),
            _ => Err("the server child answered neither a code nor an error".into()),
        }
    }
}
