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

/// Does what a browser does with a redirect to a plain-HTTP loopback URL (the OAuth callback):
/// one `GET`, reading the answer to the end. For tests and the quickstart, where a local
/// instance approves without a real browser.
///
/// # Errors
/// A URL that is not `http://127.0.0.1…` or `http://[::1]…`, or an I/O error.
pub async fn visit_loopback(url: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap_or_default();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !(authority.starts_with("127.0.0.1:") || authority.starts_with("[::1]:")) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a loopback http URL",
        ));
    }
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}
