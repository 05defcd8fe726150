//! Cold start: a fresh process (this binary in the `coldstart` role) builds a client that
//! trusts the instance's CA and verifies the account once; the parent times spawn to exit.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use mastodon_auth_core::{AccessToken, Mastodon};
use mastodon_auth_http::HyperTransport;

use crate::child::ROLE_ENV;
use crate::runtime::BoxError;

const URL_ENV: &str = "MASTODON_AUTH_BENCH_URL";
const CA_ENV: &str = "MASTODON_AUTH_BENCH_CA_FILE";

/// The child: token on stdin, URL and CA file in the environment; prints its peak RSS (KiB).
pub(crate) fn child() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cold start: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(verify_once()) {
        Ok(acct) => {
            let peak = crate::cpu::peak_rss_kib().unwrap_or(0);
            println!("{peak} {acct}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cold start: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn verify_once() -> Result<String, BoxError> {
    let url = std::env::var(URL_ENV).map_err(|_| format!("{URL_ENV} is not set"))?;
    let ca_file = std::env::var(CA_ENV).map_err(|_| format!("{CA_ENV} is not set"))?;
    let ca = std::fs::read(&ca_file).map_err(|e| format!("reading {ca_file}: {e}"))?;
    let mut token = String::new();
    std::io::stdin().read_to_string(&mut token)?;
    let transport = HyperTransport::builder().add_root_pem(&ca).build()?;
    let client = Mastodon::builder(&url)
        .transport(transport)
        .access_token(AccessToken::new(token.trim()))
        .build()
        .await?;
    Ok(client.account_verify_credentials().await?.acct)
}

/// One cold start: wall time from spawn to exit, and the child's peak RSS in KiB.
pub(crate) fn measure(
    url: &str,
    ca_file: &Path,
    token: &AccessToken,
) -> Result<(Duration, u64), BoxError> {
    let exe = std::env::current_exe()?;
    let start = Instant::now();
    let mut child = Command::new(exe)
        .env(ROLE_ENV, "coldstart")
        .env(URL_ENV, url)
        .env(CA_ENV, ca_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(token.expose().as_bytes())?;
    }
    let output = child.wait_with_output()?;
    let wall = start.elapsed();
    if !output.status.success() {
        return Err(format!("the cold-start child failed ({})", output.status).into());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let peak = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("the cold-start child did not print its peak RSS")?;
    Ok((wall, peak))
}
