//! The OAuth endpoints: authorization (as a test hook), token and revocation.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value as J;
use sha2::{Digest, Sha256};

use super::apps::split_scopes;
use super::handler::Req;
use super::params::Params;
use super::random;
use super::state::{App, Grant, Shared, State, Token, now};
use super::uri;
use crate::server::reply::{Reply, object, www_authenticate};

/// How long an authorization code stays valid (Doorkeeper's default).
const GRANT_LIFETIME: Duration = Duration::from_secs(600);

const INVALID_CLIENT: &str = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.";
const INVALID_GRANT: &str = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";
const INVALID_SCOPE: &str = "The requested scope is invalid, unknown, or malformed.";
const UNSUPPORTED_GRANT: &str =
    "The authorization grant type is not supported by the authorization server.";
const ACCESS_DENIED: &str = "The resource owner or authorization server denied the request.";

/// What the authorization step produced (see [`LocalInstance::approve`](crate::LocalInstance::approve)).
///
/// Its `Debug` output hides the authorization code.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Approval {
    /// The full `Location` the browser would be sent to: the redirect URI with `code` and
    /// `state` (or `error=access_denied...`) merged into its query (or fragment, with
    /// `response_mode=fragment`).
    Redirect(String),
    /// Out-of-band redirect URI: the code the user would copy from the page.
    OutOfBand {
        /// The authorization code (43 characters, base64url).
        code: String,
    },
    /// Out-of-band deny: Doorkeeper cannot redirect, so it answers JSON (status 400).
    OutOfBandDenied {
        /// HTTP status (400).
        status: u16,
        /// `{"error":"access_denied","error_description":"..."}`
        body: String,
    },
}

impl fmt::Debug for Approval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redirect(url) => f.debug_tuple("Redirect").field(&redact_code(url)).finish(),
            Self::OutOfBand { .. } => f
                .debug_struct("OutOfBand")
                .field("code", &crate::REDACTED)
                .finish(),
            Self::OutOfBandDenied { status, body } => f
                .debug_struct("OutOfBandDenied")
                .field("status", status)
                .field("body", body)
                .finish(),
        }
    }
}

/// The URL with the value of its `code` parameter replaced.
fn redact_code(url: &str) -> String {
    let Some(start) = url
        .find("code=")
        .filter(|&i| i > 0 && matches!(url.as_bytes()[i - 1], b'?' | b'&' | b'#'))
    else {
        return url.to_owned();
    };
    let value_start = start + "code=".len();
    let end = url[value_start..]
        .find('&')
        .map_or(url.len(), |i| value_start + i);
    format!("{}{}{}", &url[..value_start], crate::REDACTED, &url[end..])
}

/// The authorization request was rejected, as the error page of `GET /oauth/authorize` would
/// show after sign-in. Errors are never redirected to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizeError {
    /// OAuth error code: `invalid_request`, `invalid_client`, `invalid_redirect_uri`,
    /// `unsupported_response_type`, `unsupported_response_mode`, `invalid_scope`,
    /// `invalid_code_challenge_method`.
    pub error: String,
    /// The text the error page shows.
    pub description: String,
    /// 401 for `invalid_client`, else 400.
    pub status: u16,
}

impl AuthorizeError {
    fn new(error: &str, description: &str) -> Self {
        Self {
            error: error.to_owned(),
            description: description.to_owned(),
            status: if error == "invalid_client" { 401 } else { 400 },
        }
    }
}

impl fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "authorization rejected with {} ({}): {}",
            self.error, self.status, self.description
        )
    }
}

impl std::error::Error for AuthorizeError {}

/// The default scope, restricted to what the app registered (empty registration: `read`).
fn default_scopes(app: &App) -> Vec<String> {
    if app.scopes.is_empty() || app.scopes.iter().any(|s| s == "read") {
        vec!["read".to_owned()]
    } else {
        Vec::new()
    }
}

/// Requested scopes, each of which must literally be one of the app's (and the server's).
fn requested_scopes(shared: &Shared, app: &App, raw: Option<&str>) -> Option<Vec<String>> {
    let raw = raw.unwrap_or("");
    if raw.contains(['\t', '\r', '\n']) {
        return None;
    }
    let scopes = if raw.trim().is_empty() {
        default_scopes(app)
    } else {
        split_scopes(raw)
    };
    let known = shared.config.profile.scopes();
    let ok = !scopes.is_empty()
        && scopes
            .iter()
            .all(|s| app.scopes.contains(s) && known.contains(&s.as_str()));
    ok.then_some(scopes)
}

/// An authorization request that passed every check `GET /oauth/authorize` makes.
struct AuthorizationRequest {
    app: App,
    redirect_uri: String,
    response_mode: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    state: Option<String>,
}

/// Validates an authorization URL exactly as `GET /oauth/authorize` does after sign-in and
/// approves or denies it.
pub(crate) fn authorize(
    shared: &Shared,
    st: &mut State,
    url: &str,
    approve: bool,
) -> Result<Approval, AuthorizeError> {
    let request = validate(shared, st, url)?;
    Ok(if approve {
        grant(st, request)
    } else {
        deny(request)
    })
}

/// Whether an authorization URL passes every check of `GET /oauth/authorize` (the approval
/// page is shown only then).
pub(crate) fn check(shared: &Shared, st: &State, url: &str) -> Result<(), AuthorizeError> {
    validate(shared, st, url).map(|_| ())
}

/// Doorkeeper's checks, in its order (`Doorkeeper::OAuth::PreAuthorization`).
fn validate(
    shared: &Shared,
    st: &State,
    url: &str,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path.split('#').next().unwrap_or(path);
    if !path.ends_with("/oauth/authorize") {
        return Err(AuthorizeError::new(
            "invalid_request",
            "The URL is not an authorization URL (its path must end with /oauth/authorize).",
        ));
    }
    let p = Params::parse(Some(query), None, b"");
    let Some(client_id) = p.present("client_id") else {
        return Err(AuthorizeError::new(
            "invalid_request",
            "Missing required parameter: client_id.",
        ));
    };
    let Some(app) = st.app_by_client_id(client_id).cloned() else {
        return Err(AuthorizeError::new("invalid_client", INVALID_CLIENT));
    };
    let redirect_uri = p.present("redirect_uri").unwrap_or("").to_owned();
    if redirect_uri.is_empty() || !uri::matches_registered(&redirect_uri, &app.redirect_uris()) {
        return Err(AuthorizeError::new(
            "invalid_redirect_uri",
            "The redirect uri included is not valid.",
        ));
    }
    let Some(response_type) = p.present("response_type") else {
        return Err(AuthorizeError::new(
            "invalid_request",
            "Missing required parameter: response_type.",
        ));
    };
    if response_type != "code" {
        return Err(AuthorizeError::new(
            "unsupported_response_type",
            "The authorization server does not support this response type.",
        ));
    }
    let response_mode = p.present("response_mode").unwrap_or("query").to_owned();
    if !matches!(response_mode.as_str(), "query" | "fragment" | "form_post") {
        return Err(AuthorizeError::new(
            "unsupported_response_mode",
            "The authorization server does not support this response mode.",
        ));
    }
    let Some(scopes) = requested_scopes(shared, &app, p.str("scope")) else {
        return Err(AuthorizeError::new("invalid_scope", INVALID_SCOPE));
    };
    let profile = shared.config.profile;
    let (code_challenge, code_challenge_method) = if profile.pkce() {
        let challenge = p.present("code_challenge").map(str::to_owned);
        let method = p.present("code_challenge_method").map(str::to_owned);
        if challenge.is_some() && method.as_deref() != Some("S256") {
            return Err(AuthorizeError::new(
                "invalid_code_challenge_method",
                profile.pkce_method_message(),
            ));
        }
        (challenge, method)
    } else {
        (None, None)
    };
    Ok(AuthorizationRequest {
        app,
        redirect_uri,
        response_mode,
        scopes,
        code_challenge,
        code_challenge_method,
        state: p.present("state").map(str::to_owned),
    })
}

/// The person refused: `access_denied` back to the app, or a JSON error out of band
/// (Doorkeeper cannot redirect there).
fn deny(request: AuthorizationRequest) -> Approval {
    if uri::is_oob(&request.redirect_uri) {
        return Approval::OutOfBandDenied {
            status: 400,
            body: object(&[
                ("error", "access_denied".into()),
                ("error_description", ACCESS_DENIED.into()),
            ]),
        };
    }
    let mut extra = vec![
        ("error", "access_denied".to_owned()),
        ("error_description", ACCESS_DENIED.to_owned()),
    ];
    if let Some(s) = request.state {
        extra.push(("state", s));
    }
    Approval::Redirect(merge(&request.redirect_uri, &extra, &request.response_mode))
}

/// The person approved: a single-use code, shown out of band or sent back with the state.
fn grant(st: &mut State, request: AuthorizationRequest) -> Approval {
    let code = random::secret();
    st.grants.insert(
        code.clone(),
        Grant {
            app_id: request.app.id,
            redirect_uri: request.redirect_uri.clone(),
            scopes: request.scopes,
            code_challenge: request.code_challenge,
            code_challenge_method: request.code_challenge_method,
            expires_at: now(st) + GRANT_LIFETIME,
            used: false,
        },
    );
    if uri::is_oob(&request.redirect_uri) {
        return Approval::OutOfBand { code };
    }
    let mut extra = vec![("code", code)];
    if let Some(s) = request.state {
        extra.push(("state", s));
    }
    Approval::Redirect(merge(&request.redirect_uri, &extra, &request.response_mode))
}

/// Adds parameters to a redirect URI's query (or fragment), keeping what it already has.
fn merge(redirect_uri: &str, extra: &[(&str, String)], response_mode: &str) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in extra {
        ser.append_pair(k, v);
    }
    let added = ser.finish();
    if response_mode == "fragment" {
        return format!("{redirect_uri}#{added}");
    }
    match redirect_uri.split_once('?') {
        Some((_, q)) if !q.is_empty() => format!("{redirect_uri}&{added}"),
        Some((base, _)) => format!("{base}?{added}"),
        None => format!("{redirect_uri}?{added}"),
    }
}

/// Doorkeeper's `ErrorResponse` for the token endpoint.
fn token_error(error: &str, description: &str) -> Reply {
    let status = if matches!(error, "invalid_client" | "unauthorized_client") {
        401
    } else {
        400
    };
    Reply::json(
        status,
        object(&[
            ("error", error.into()),
            ("error_description", description.into()),
        ]),
    )
    .with("cache-control", "no-store")
    .with("www-authenticate", www_authenticate(error, description))
}

fn missing(param: &str) -> Reply {
    token_error(
        "invalid_request",
        &format!("Missing required parameter: {param}."),
    )
}

/// `client_secret_basic` first (it wins even when wrong), then `client_secret_post`.
fn authenticate_client(st: &State, req: &Req) -> Option<App> {
    let (id, secret) = match basic_credentials(req) {
        Some(pair) => pair,
        None => (
            req.params.present("client_id")?.to_owned(),
            req.params.present("client_secret")?.to_owned(),
        ),
    };
    st.app_by_client_id(&id)
        .filter(|a| a.client_secret == secret)
        .cloned()
}

fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let value = req.header("authorization")?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The scopes a client-credentials or password token gets: the requested ones when each is
/// literally one of the app's, else the default.
fn token_scopes(shared: &Shared, app: &App, req: &Req) -> Option<Vec<String>> {
    requested_scopes(shared, app, req.params.str("scope"))
}

pub(crate) fn token(shared: &Shared, st: &mut State, req: &Req) -> Reply {
    let profile = shared.config.profile;
    let Some(grant_type) = req.params.present("grant_type") else {
        return missing("grant_type");
    };
    let supported = match grant_type {
        "authorization_code" | "client_credentials" => true,
        "password" => profile.password_grant(),
        "refresh_token" => profile.refresh_grant(),
        _ => false,
    };
    if !supported {
        return token_error("unsupported_grant_type", UNSUPPORTED_GRANT);
    }
    match grant_type {
        "authorization_code" => authorization_code(shared, st, req),
        "client_credentials" => {
            let Some(app) = authenticate_client(st, req) else {
                return token_error("invalid_client", INVALID_CLIENT);
            };
            let Some(scopes) = token_scopes(shared, &app, req) else {
                return token_error("invalid_scope", INVALID_SCOPE);
            };
            issue(shared, st, &app, false, scopes)
        }
        "password" => {
            let Some(app) = authenticate_client(st, req) else {
                return token_error("invalid_client", INVALID_CLIENT);
            };
            let user = &shared.config.user;
            let username = req.params.str("username").unwrap_or("");
            // Mastodon signs in by e-mail; Pleroma also takes the nickname.
            let name_ok = username.eq_ignore_ascii_case(&user.email)
                || (profile == crate::Profile::Pleroma && username == user.username);
            if !name_ok || req.params.str("password") != Some(user.password.as_str()) {
                return token_error("invalid_grant", INVALID_GRANT);
            }
            let Some(scopes) = token_scopes(shared, &app, req) else {
                return token_error("invalid_scope", INVALID_SCOPE);
            };
            issue(shared, st, &app, true, scopes)
        }
        _ => refresh(shared, st, req),
    }
}

fn authorization_code(shared: &Shared, st: &mut State, req: &Req) -> Reply {
    let Some(code) = req.params.present("code").map(str::to_owned) else {
        return missing("code");
    };
    let pkce = shared.config.profile.pkce();
    let grant = st.grants.get(&code).cloned();
    let verifier = req.params.present("code_verifier").map(str::to_owned);
    if pkce && grant.as_ref().is_some_and(|g| g.code_challenge.is_some()) && verifier.is_none() {
        return missing("code_verifier");
    }
    let Some(redirect_uri) = req.params.present("redirect_uri").map(str::to_owned) else {
        return missing("redirect_uri");
    };
    let Some(app) = authenticate_client(st, req) else {
        return token_error("invalid_client", INVALID_CLIENT);
    };
    let now = now(st);
    let Some(grant) = grant.filter(|g| g.app_id == app.id && !g.used && now < g.expires_at) else {
        return token_error("invalid_grant", INVALID_GRANT);
    };
    if !uri::matches_registered(&redirect_uri, std::slice::from_ref(&grant.redirect_uri)) {
        return token_error("invalid_grant", INVALID_GRANT);
    }
    if pkce && let Some(v) = &verifier {
        let digest = Sha256::digest(v.as_bytes());
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        let ok = grant.code_challenge_method.as_deref() == Some("S256")
            && grant.code_challenge.as_deref() == Some(computed.as_str());
        if !ok {
            return token_error("invalid_grant", INVALID_GRANT);
        }
    }
    if let Some(g) = st.grants.get_mut(&code) {
        g.used = true;
    }
    issue(shared, st, &app, true, grant.scopes)
}

fn refresh(shared: &Shared, st: &mut State, req: &Req) -> Reply {
    let Some(app) = authenticate_client(st, req) else {
        return token_error("invalid_client", INVALID_CLIENT);
    };
    let Some(rt) = req.params.present("refresh_token") else {
        return missing("refresh_token");
    };
    let Some(old) = st
        .tokens
        .iter_mut()
        .find(|t| t.refresh_token.as_deref() == Some(rt) && t.app_id == app.id && !t.revoked)
    else {
        return token_error("invalid_grant", INVALID_GRANT);
    };
    // Rotation: the old pair stops working.
    old.revoked = true;
    let (user, scopes) = (old.user, old.scopes.clone());
    issue(shared, st, &app, user, scopes)
}

/// Hands out a token, reusing a live one for the same app, owner and scope set when the
/// server does (`reuse_access_token`).
fn issue(shared: &Shared, st: &mut State, app: &App, user: bool, scopes: Vec<String>) -> Reply {
    let profile = shared.config.profile;
    let now = now(st);
    let existing = profile
        .reuses_tokens()
        .then(|| {
            st.tokens.iter().find(|t| {
                t.app_id == app.id
                    && t.user == user
                    && !t.revoked
                    && !t.expired(now)
                    && t.same_scopes(&scopes)
            })
        })
        .flatten()
        .cloned();
    let token = if let Some(t) = existing {
        t
    } else {
        let refreshable = profile.refresh_grant();
        let t = Token {
            id: st.next_id(),
            token: random::secret(),
            app_id: app.id,
            user,
            scopes,
            created_at: now.as_secs(),
            revoked: false,
            refresh_token: refreshable.then(random::secret),
            expires_at: refreshable.then(|| now + shared.config.token_lifetime),
        };
        st.tokens.push(t.clone());
        t
    };
    let scope = token.scopes.join(" ");
    let body = match (&token.refresh_token, token.expires_at) {
        // Pleroma renders an Elixir map, which Jason writes with sorted keys.
        (Some(rt), Some(exp)) => object(&[
            ("access_token", token.token.clone().into()),
            ("created_at", token.created_at.into()),
            ("expires_in", exp.saturating_sub(now).as_secs().into()),
            ("refresh_token", rt.clone().into()),
            ("scope", scope.into()),
            ("token_type", "Bearer".into()),
        ]),
        _ => object(&[
            ("access_token", token.token.clone().into()),
            ("token_type", "Bearer".into()),
            ("scope", scope.into()),
            ("created_at", J::from(token.created_at)),
        ]),
    };
    // Rails collapses Doorkeeper's `no-store, no-cache` to `no-store` (as recorded).
    let reply = Reply::json(200, body).with("cache-control", "no-store");
    if profile.token_pragma() {
        reply.with("pragma", "no-cache")
    } else {
        reply
    }
}

fn revoke_forbidden() -> Reply {
    Reply::json(
        403,
        object(&[
            ("error", "unauthorized_client".into()),
            (
                "error_description",
                "You are not authorized to revoke this token".into(),
            ),
        ]),
    )
}

pub(crate) fn revoke(st: &mut State, req: &Req) -> Reply {
    let Some(app) = authenticate_client(st, req) else {
        return revoke_forbidden();
    };
    let ok = || Reply::json(200, "{}").with("cache-control", "max-age=0, private, must-revalidate");
    let Some(value) = req.params.present("token") else {
        return ok();
    };
    let Some(token) = st
        .tokens
        .iter_mut()
        .find(|t| t.token == value || t.refresh_token.as_deref() == Some(value))
    else {
        return ok();
    };
    if token.app_id != app.id {
        return revoke_forbidden();
    }
    token.revoked = true;
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_debug_hides_codes() {
        let r = Approval::Redirect("http://h/cb?x=1&code=SECRET&state=s".into());
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("SECRET") && shown.contains("state=s"),
            "{shown}"
        );
        let o = format!(
            "{:?}",
            Approval::OutOfBand {
                code: "SECRET".into()
            }
        );
        assert!(!o.contains("SECRET"), "{o}");
    }

    #[test]
    fn merge_keeps_existing_query_and_encodes() {
        let extra = [("code", "a b".to_owned()), ("state", "s&t".to_owned())];
        assert_eq!(
            merge("http://127.0.0.1:1/cb?x=1", &extra, "query"),
            "http://127.0.0.1:1/cb?x=1&code=a+b&state=s%26t"
        );
        assert_eq!(
            merge("app://cb", &extra, "fragment"),
            "app://cb#code=a+b&state=s%26t"
        );
        assert_eq!(
            merge("app://cb?", &extra[..1], "query"),
            "app://cb?code=a+b"
        );
    }
}
