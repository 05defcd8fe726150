//! `server-info`: what an instance supports, and a broken server reported as broken.

use mastodon_auth::bytes::Bytes;
use mastodon_auth::http::{self, StatusCode, header};
use mastodon_auth::{Error, HttpTransport, InstanceUrl, RequestTimeout};
use serde_json::json;

use super::context::{Context, USER_AGENT};
use super::failure::{Exit, Failure};

/// The time a diagnostic request may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(super) async fn server_info(ctx: &Context, instance: &str) -> Result<(), Failure> {
    let instance = InstanceUrl::parse(instance)?;
    let client = ctx.builder(&instance)?.build().await?;
    let info = client.oauth_authorization_server_info().await?;
    let version = client.retrieve_mastodon_version().await?;
    // The library reads an unusable instance document as "version unknown" and a failing
    // metadata document as "none", so that a passing failure does not stop a client. Here
    // they are the answer: find out what the server really said.
    let known = client.version_is_known();
    if !known {
        check_instance_document(ctx, &instance).await?;
    }
    if info.is_none() {
        let answer = probe(ctx, &instance, METADATA).await?;
        if answer.status.is_server_error() {
            return Err(answer.failure(&instance, METADATA, "is failing"));
        }
    }
    let grants = info.as_ref().and_then(|i| i.grant_types_supported.clone());
    let pkce = info.as_ref().is_some_and(|i| i.supports_pkce_s256());
    let value = json!({
        "instance": client.base_url().as_str(),
        "version": known.then(|| version.raw.clone()),
        "api_version": client.api_version(),
        "metadata": info.is_some(),
        "authorization_endpoint": info.as_ref().and_then(|i| i.authorization_endpoint.clone()),
        "token_endpoint": info.as_ref().and_then(|i| i.token_endpoint.clone()),
        "grant_types": grants,
        "pkce_s256": pkce,
    });
    let mut lines = vec![
        format!("Instance:  {}", client.base_url()),
        format!(
            "Version:   {}",
            if known {
                version.raw.as_str()
            } else {
                "unknown (the instance shows it to logged-in users only)"
            }
        ),
    ];
    if let Some(api) = client.api_version() {
        lines.push(format!("API level: {api}"));
    }
    match &info {
        Some(i) => {
            lines.push("OAuth metadata: yes".into());
            lines.push(format!(
                "  authorize: {}",
                i.authorization_endpoint.as_deref().unwrap_or("(default)")
            ));
            lines.push(format!(
                "  token:     {}",
                i.token_endpoint.as_deref().unwrap_or("(default)")
            ));
            lines.push(format!(
                "  grants:    {}",
                i.grant_types_supported
                    .as_ref()
                    .map_or("(not listed)".to_owned(), |g| g.join(", "))
            ));
            lines.push(format!("  PKCE S256: {}", if pkce { "yes" } else { "no" }));
        }
        None => lines.push(
            "OAuth metadata: none (older Mastodon or another server; /oauth/* is used)".into(),
        ),
    }
    ctx.out.say(&value, &lines)
}

const INSTANCE: &str = "/api/v1/instance/";
const METADATA: &str = "/.well-known/oauth-authorization-server";

/// Why the instance document gave no version: fine when the instance shows it to logged-in
/// users only (401/403); a failure naming the status otherwise.
async fn check_instance_document(ctx: &Context, instance: &InstanceUrl) -> Result<(), Failure> {
    let answer = probe(ctx, instance, INSTANCE).await?;
    match answer.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(()),
        s if s.is_server_error() => Err(answer.failure(instance, INSTANCE, "is failing")),
        _ => Err(answer.failure(instance, INSTANCE, "does not look like a Mastodon instance")),
    }
}

/// What a server answered to a diagnostic `GET`.
struct Answer {
    status: StatusCode,
    html: bool,
}

impl Answer {
    fn failure(&self, instance: &InstanceUrl, path: &str, what: &str) -> Failure {
        Failure::new(
            Exit::Server,
            format!(
                "{instance} {what}: GET {path} answers {} {}{}",
                self.status.as_u16(),
                self.status.canonical_reason().unwrap_or("(unknown status)"),
                if self.html { " with an HTML page" } else { "" }
            ),
        )
    }
}

/// One anonymous `GET`, for its status and content type.
async fn probe(ctx: &Context, instance: &InstanceUrl, path: &str) -> Result<Answer, Failure> {
    let request = http::Request::get(instance.join(path))
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, USER_AGENT)
        .extension(RequestTimeout(PROBE_TIMEOUT))
        .body(Bytes::new())
        .map_err(|e| Failure::other(format!("cannot build a request for {path}: {e}")))?;
    let response = ctx
        .transport_for(instance)?
        .send(request)
        .await
        .map_err(|e| Failure::from(Error::Network(e)))?;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    Ok(Answer {
        status: response.status(),
        html,
    })
}
