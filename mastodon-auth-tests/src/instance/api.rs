//! Token-authenticated API endpoints, the OAuth metadata document and the instance documents.

use serde_json::Value as J;

use super::apps;
use super::handler::Req;
use super::profile::MetadataKind;
use super::state::{Shared, State, Token, now};
use crate::server::reply::{Reply, object, www_authenticate};

/// Who a request authenticated as (Doorkeeper's view of the bearer token).
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    /// No token, an unknown one, or a malformed header.
    Invalid,
    Revoked,
    Expired,
    Valid(Token),
}

/// The token from `Authorization: Bearer`, else `access_token` / `bearer_token` parameters.
pub(crate) fn bearer(req: &Req) -> Option<String> {
    if let Some(value) = req.header("authorization")
        && let Some((scheme, tok)) = value.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
        && !tok.trim().is_empty()
    {
        return Some(tok.trim().to_owned());
    }
    req.params
        .present("access_token")
        .or_else(|| req.params.present("bearer_token"))
        .map(str::to_owned)
}

pub(crate) fn authenticate(st: &State, req: &Req) -> Auth {
    let Some(value) = bearer(req) else {
        return Auth::Invalid;
    };
    match st.tokens.iter().find(|t| t.token == value) {
        None => Auth::Invalid,
        Some(t) if t.revoked => Auth::Revoked,
        Some(t) if t.expired(now(st)) => Auth::Expired,
        Some(t) => Auth::Valid(t.clone()),
    }
}

fn unauthorized(message: &str) -> Reply {
    Reply::api_error(401, message).with(
        "www-authenticate",
        www_authenticate("invalid_token", message),
    )
}

/// `doorkeeper_authorize!(*scopes)` (any one scope suffices; empty: any token), then
/// `require_user!` when `user` is set.
pub(crate) fn require(auth: &Auth, scopes: &[&str], user: bool) -> Result<Token, Reply> {
    let token = match auth {
        Auth::Invalid => return Err(unauthorized("The access token is invalid")),
        Auth::Revoked => return Err(unauthorized("The access token was revoked")),
        Auth::Expired => return Err(unauthorized("The access token expired")),
        Auth::Valid(t) => t,
    };
    if !scopes.is_empty() && !scopes.iter().any(|s| token.scopes.iter().any(|t| t == s)) {
        let msg = "This action is outside the authorized scopes";
        return Err(Reply::api_error(403, msg).with(
            "www-authenticate",
            www_authenticate("insufficient_scope", msg),
        ));
    }
    if user && !token.user {
        return Err(Reply::api_error(
            422,
            "This method requires an authenticated user",
        ));
    }
    Ok(token.clone())
}

pub(crate) fn app_verify(shared: &Shared, st: &State, auth: &Auth) -> Reply {
    let profile = shared.config.profile;
    let scopes: &[&str] = if profile.app_verify_needs_read() {
        &["read"]
    } else {
        &[]
    };
    match require(auth, scopes, false) {
        Err(r) => r,
        Ok(token) => match st.app(token.app_id) {
            Some(app) => Reply::json(200, apps::public_json(app, profile)),
            None => Reply::not_found(),
        },
    }
}

pub(crate) fn account_verify(shared: &Shared, auth: &Auth) -> Reply {
    let cfg = &shared.config;
    if let Err(r) = require(auth, cfg.profile.account_scopes(), true) {
        return r;
    }
    let template = if cfg.profile == crate::Profile::Current {
        include_str!("templates/account_current.json")
    } else {
        include_str!("templates/account_4_3.json")
    };
    let user = &cfg.user;
    let body = template
        .trim_end()
        .replace("{BASE}", &cfg.base_url)
        .replace("{ID}", &J::from(user.id.as_str()).to_string())
        .replace("{ID_RAW}", &user.id)
        .replace("{USERNAME_RAW}", &user.username)
        .replace(
            "{DISPLAY_NAME}",
            &J::from(user.display_name.as_str()).to_string(),
        );
    Reply::json(200, body)
}

pub(crate) fn userinfo(shared: &Shared, auth: &Auth) -> Reply {
    let cfg = &shared.config;
    if let Err(r) = require(auth, &["profile"], true) {
        return r;
    }
    let base = &cfg.base_url;
    let user = &cfg.user;
    Reply::json(
        200,
        object(&[
            ("iss", format!("{base}/").into()),
            ("sub", format!("{base}/users/{}", user.username).into()),
            ("name", user.display_name.clone().into()),
            ("preferred_username", user.username.clone().into()),
            ("profile", format!("{base}/@{}", user.username).into()),
            (
                "picture",
                format!("{base}/avatars/original/missing.png").into(),
            ),
        ]),
    )
    .with("cache-control", "private, no-store")
}

pub(crate) fn metadata(shared: &Shared) -> Reply {
    let cfg = &shared.config;
    let base = &cfg.base_url;
    let kind = cfg.profile.metadata();
    let mut fields: Vec<(&str, J)> = match kind {
        MetadataKind::NotFound => return Reply::not_found(),
        MetadataKind::Html => {
            // Pleroma's front end answers unknown paths with its single-page app.
            return Reply::html(
                200,
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Pleroma</title></head><body><noscript>To use Pleroma, please enable JavaScript.</noscript><div id=\"app\"></div></body></html>",
            );
        }
        MetadataKind::Current | MetadataKind::V4_3 => vec![
            ("issuer", format!("{base}/").into()),
            (
                "authorization_endpoint",
                format!("{base}/oauth/authorize").into(),
            ),
            ("token_endpoint", format!("{base}/oauth/token").into()),
            ("revocation_endpoint", format!("{base}/oauth/revoke").into()),
        ],
    };
    let grants: &[&str] = if kind == MetadataKind::Current {
        fields.push(("userinfo_endpoint", format!("{base}/oauth/userinfo").into()));
        &["authorization_code", "client_credentials"]
    } else {
        &["authorization_code", "password", "client_credentials"]
    };
    fields.extend([
        ("scopes_supported", J::from(cfg.profile.scopes())),
        ("response_types_supported", J::from(vec!["code"])),
        (
            "response_modes_supported",
            J::from(vec!["query", "fragment", "form_post"]),
        ),
        ("grant_types_supported", J::from(grants.to_vec())),
        (
            "token_endpoint_auth_methods_supported",
            J::from(vec!["client_secret_basic", "client_secret_post"]),
        ),
        ("code_challenge_methods_supported", J::from(vec!["S256"])),
        (
            "service_documentation",
            "https://docs.joinmastodon.org/".into(),
        ),
        (
            "app_registration_endpoint",
            format!("{base}/api/v1/apps").into(),
        ),
    ]);
    Reply::json(200, object(&fields))
        .with("cache-control", "max-age=0, private, must-revalidate")
        .with("vary", "Origin")
}

fn fill_instance(shared: &Shared, template: &str) -> String {
    let cfg = &shared.config;
    let streaming = cfg
        .base_url
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    let api_versions = cfg.profile.api_version().map_or(String::new(), |v| {
        format!("\"api_versions\":{{\"mastodon\":{v}}},")
    });
    template
        .trim_end()
        .replace("{STREAMING}", &streaming)
        .replace("{BASE}", &cfg.base_url)
        .replace("{DOMAIN}", &cfg.domain)
        .replace("{VERSION}", &J::from(cfg.version.as_str()).to_string())
        .replace("{API_VERSIONS}", &api_versions)
}

const INSTANCE_CACHE: &str = "max-age=300, public, stale-while-revalidate=30, stale-if-error=86400";

pub(crate) fn instance_v1(shared: &Shared) -> Reply {
    Reply::json(
        200,
        fill_instance(shared, include_str!("templates/instance_v1.json")),
    )
    .with("cache-control", INSTANCE_CACHE)
    .with("deprecation", "@1668384000")
}

pub(crate) fn instance_v2(shared: &Shared) -> Reply {
    if !shared.config.profile.instance_v2() {
        return Reply::not_found();
    }
    Reply::json(
        200,
        fill_instance(shared, include_str!("templates/instance_v2.json")),
    )
    .with("cache-control", INSTANCE_CACHE)
}
