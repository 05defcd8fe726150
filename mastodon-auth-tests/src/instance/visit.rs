//! Playing the browser's last step: following the authorization redirect to an app's loopback
//! callback listener.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Does what a browser does with a redirect to a plain-HTTP loopback URL (the OAuth callback
/// of an installed app, RFC 8252 §7.3): one `GET`, reading the answer to the end, which is
/// returned (status line, headers and body).
///
/// Pair it with [`LocalInstance::approve`](crate::LocalInstance::approve), which plays the
/// person who signs in and approves, and returns the redirect's location.
///
/// # Errors
/// A URL that is not `http://127.0.0.1:PORT…` or `http://[::1]:PORT…`, or an I/O error.
pub async fn visit_loopback(url: &str) -> std::io::Result<String> {
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
