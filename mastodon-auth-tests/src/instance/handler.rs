//! Routing: one parsed request in, one answer out.

use std::net::IpAddr;

use super::api::{self, Auth};
use super::apps;
use super::oauth;
use super::params::Params;
use super::sign_in;
use super::state::{Shared, State, ip_bucket, now};
use super::throttle::{self, Hit};
use crate::server::reply::{Reply, html_escape};

/// A request with its body read and its parameters parsed.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) params: Params,
    pub(crate) peer: IpAddr,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn route(shared: &Shared, req: &Req) -> Reply {
    let mut guard = shared.lock();
    let st = &mut *guard;
    if req.params.malformed {
        return Reply::api_error(400, "Error occurred while parsing request parameters");
    }
    let is_api = req.path.starts_with("/api");
    let auth = api::authenticate(st, req);
    let now = now(st);
    let epoch = shared.config.profile.epoch_reset_header();
    let mut reported: Option<Hit> = None;
    if is_api {
        for (hit, key_limit) in throttle_hits(shared, st, req, &auth) {
            if hit.exceeded() {
                return throttle::too_many(key_limit, throttle::reset_time(now, hit.period), epoch);
            }
            if reported.is_none_or(|r| hit.remaining() < r.remaining()) {
                reported = Some(hit);
            }
        }
    }
    let mut reply = dispatch(shared, st, req, &auth);
    if is_api {
        if let Some(hit) = reported {
            throttle::apply(&mut reply, &hit, now, epoch);
        }
        if reply.header("cache-control").is_none() {
            reply.set("cache-control", "private, no-store");
        }
        reply.set("vary", "Authorization, Origin");
    }
    reply
}

/// Counts the request against every throttle it matches (Mastodon's rack-attack rules, `config/initializers/rack_attack.rb`).
fn throttle_hits(shared: &Shared, st: &mut State, req: &Req, auth: &Auth) -> Vec<(Hit, u32)> {
    let cfg = &shared.config;
    let now = now(st);
    let ip = ip_bucket(req.peer);
    let mut hits = Vec::new();
    let mut push = |st: &mut State, key: String, t: super::state::Throttle| {
        let hit = throttle::count(st, now, key, t);
        hits.push((hit, t.limit));
    };
    match auth {
        Auth::Valid(token) => {
            push(st, format!("token:{}", token.id), cfg.api_throttle);
            if !token.user {
                push(st, format!("ip:{ip}"), cfg.api_throttle);
            }
        }
        _ => push(st, format!("ip:{ip}"), cfg.api_throttle),
    }
    if req.method == "POST" && req.path == "/api/v1/apps" && cfg.profile.throttles_registrations() {
        push(st, format!("apps:{ip}"), cfg.apps_throttle);
    }
    hits
}

fn dispatch(shared: &Shared, st: &mut State, req: &Req, auth: &Auth) -> Reply {
    let profile = shared.config.profile;
    let path = req.path.as_str();
    match (req.method.as_str(), path) {
        ("POST", "/api/v1/apps") => apps::create(shared, st, req),
        ("GET", "/api/v1/apps/verify_credentials") => api::app_verify(shared, st, auth),
        ("GET", "/api/v1/accounts/verify_credentials") => api::account_verify(shared, auth),
        ("GET", "/api/v1/instance" | "/api/v1/instance/") => api::instance_v1(shared),
        ("GET", "/api/v2/instance" | "/api/v2/instance/") => api::instance_v2(shared),
        ("GET", "/api/v1/timelines/home") => {
            match api::require(auth, &["read", "read:statuses"], true) {
                Ok(_) => Reply::json(200, "[]"),
                Err(r) => r,
            }
        }
        ("POST", "/api/v1/statuses") => {
            match api::require(auth, &["write", "write:statuses"], true) {
                // Posting is outside this server's scope; authentication is what it checks.
                Ok(_) => Reply::api_error(422, "Validation failed: Text can't be blank"),
                Err(r) => r,
            }
        }
        ("GET" | "POST", "/oauth/userinfo") if profile.userinfo() => api::userinfo(shared, auth),
        ("GET", "/.well-known/oauth-authorization-server") => api::metadata(shared),
        ("GET", "/oauth/authorize") => sign_in::authorize_page(shared, st, req),
        ("POST", "/oauth/authorize") => sign_in::decide(shared, st, req),
        ("GET", "/auth/sign_in") => sign_in::sign_in_form(None),
        ("POST", "/auth/sign_in") => sign_in::sign_in(shared, st, req),
        ("GET", "/oauth/authorize/native") => {
            let code = req.params.str("code").unwrap_or("");
            Reply::html(
                200,
                format!(
                    "<!DOCTYPE html><html><head><title>Authorization code</title></head><body><p>Copy this authorization code and paste it to the application.</p><input class=\"oauth-code\" readonly type=\"text\" value=\"{}\"><button>Copy</button></body></html>",
                    html_escape(code)
                ),
            )
        }
        ("POST", "/oauth/token") => oauth::token(shared, st, req),
        ("POST", "/oauth/revoke") => oauth::revoke(st, req),
        _ => Reply::not_found(),
    }
}
