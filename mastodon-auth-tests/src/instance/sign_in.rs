//! The browser's way in: Mastodon's sign-in page and the approval page, so that a person (or
//! a headless browser) can complete a login against a local instance, as on a real server.
//!
//! Like Mastodon (Devise and Doorkeeper, `app/controllers/oauth/authorizations_controller.rb`):
//! `GET /oauth/authorize` without a session sends the browser to `/auth/sign_in`, remembering
//! where it came from; a correct e-mail and password start a session and go back there; the
//! approval page posts the decision to `POST /oauth/authorize`, which redirects to the app (or
//! shows the out-of-band code). The session and the return address live in cookies.
//! With [`auto_approve`](crate::LocalInstanceBuilder::auto_approve) the first step approves at
//! once, for scripts.

use std::fmt::Write as _;

use super::handler::Req;
use super::oauth::{self, Approval};
use super::random;
use super::state::{Shared, State};
use crate::server::reply::{Reply, html_escape};

const SESSION_COOKIE: &str = "_mastodon_session";
const RETURN_COOKIE: &str = "mastodon_auth_return_to";

/// The parameters of an authorization request, as the approval form carries them back.
const AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "lang",
    "force_login",
];

/// `GET /oauth/authorize`.
pub(crate) fn authorize_page(shared: &Shared, st: &mut State, req: &Req) -> Reply {
    let url = authorize_url(shared, &req.params.query_pairs());
    if shared.config.auto_approve {
        return decided(oauth::authorize(shared, st, &url, true));
    }
    if !signed_in(st, req) {
        return Reply::redirect(&format!("{}/auth/sign_in", shared.config.base_url)).with(
            "set-cookie",
            format!(
                "{RETURN_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
                percent(&url)
            ),
        );
    }
    // The checks run before the page is shown: an invalid request gets the error page.
    if let Err(e) = oauth::check(shared, st, &url) {
        return error_page(&e);
    }
    let app = req
        .params
        .str("client_id")
        .and_then(|id| st.app_by_client_id(id))
        .map_or_else(String::new, |app| app.name.clone());
    let scopes = req.params.str("scope").unwrap_or("read");
    let mut hidden = String::new();
    for (k, v) in req.params.query_pairs() {
        if AUTHORIZE_PARAMS.contains(&k.as_str()) {
            let _ = write!(
                hidden,
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(&k),
                html_escape(&v)
            );
        }
    }
    Reply::html(
        200,
        format!(
            "<!DOCTYPE html><html><head><title>Authorization required - Mastodon</title></head><body>\
             <h1>Authorization required</h1>\
             <p><strong>{}</strong> would like permission to access your account <strong>{}</strong>. \
             It is a third-party application.</p><p>Scopes: <code>{}</code></p>\
             <form action=\"/oauth/authorize\" method=\"post\">{hidden}\
             <button type=\"submit\" name=\"decision\" value=\"approve\">Authorize</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form></body></html>",
            html_escape(&app),
            html_escape(&shared.config.user.email),
            html_escape(scopes),
        ),
    )
}

/// `POST /oauth/authorize`: the person's decision.
pub(crate) fn decide(shared: &Shared, st: &mut State, req: &Req) -> Reply {
    if !signed_in(st, req) {
        return Reply::redirect(&format!("{}/auth/sign_in", shared.config.base_url));
    }
    let pairs: Vec<(String, String)> = req
        .params
        .body_pairs()
        .into_iter()
        .filter(|(k, _)| AUTHORIZE_PARAMS.contains(&k.as_str()))
        .collect();
    let approve = req.params.str("decision") == Some("approve");
    decided(oauth::authorize(
        shared,
        st,
        &authorize_url(shared, &pairs),
        approve,
    ))
}

/// `GET /auth/sign_in`.
pub(crate) fn sign_in_form(error: Option<&str>) -> Reply {
    let error = error.map_or_else(String::new, |e| {
        format!(
            "<div class=\"flash-message alert\">{}</div>",
            html_escape(e)
        )
    });
    Reply::html(
        200,
        format!(
            "<!DOCTYPE html><html><head><title>Log in - Mastodon</title></head><body>{error}\
             <form action=\"/auth/sign_in\" method=\"post\">\
             <label>E-mail address <input name=\"user[email]\" type=\"email\" autocomplete=\"username\"></label>\
             <label>Password <input name=\"user[password]\" type=\"password\" autocomplete=\"current-password\"></label>\
             <button type=\"submit\">Log in</button></form></body></html>"
        ),
    )
}

/// `POST /auth/sign_in`.
pub(crate) fn sign_in(shared: &Shared, st: &mut State, req: &Req) -> Reply {
    let user = &shared.config.user;
    let email = req.params.str("user[email]").unwrap_or("");
    let password = req.params.str("user[password]").unwrap_or("");
    if !email.eq_ignore_ascii_case(&user.email) || password != user.password {
        // Devise's message in Mastodon's English locale.
        return sign_in_form(Some("Invalid E-mail address or password."));
    }
    let session = random::secret();
    st.sessions.push(session.clone());
    let back = cookie(req, RETURN_COOKIE)
        .map(unpercent)
        .filter(|url| url.starts_with(&shared.config.base_url))
        .unwrap_or_else(|| format!("{}/", shared.config.base_url));
    Reply::redirect(&back).with(
        "set-cookie",
        format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax"),
    )
}

fn signed_in(st: &State, req: &Req) -> bool {
    cookie(req, SESSION_COOKIE).is_some_and(|s| st.sessions.contains(&s))
}

fn cookie(req: &Req, name: &str) -> Option<String> {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
}

fn authorize_url(shared: &Shared, pairs: &[(String, String)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{}/oauth/authorize?{query}", shared.config.base_url)
}

/// Where the browser goes after a decision.
fn decided(approval: Result<Approval, oauth::AuthorizeError>) -> Reply {
    match approval {
        Ok(Approval::Redirect(location)) => Reply::redirect(&location),
        Ok(Approval::OutOfBand { code }) => {
            Reply::redirect(&format!("/oauth/authorize/native?code={}", percent(&code)))
        }
        Ok(Approval::OutOfBandDenied { status, body }) => Reply::json(status, body),
        Err(e) => error_page(&e),
    }
}

fn error_page(e: &oauth::AuthorizeError) -> Reply {
    Reply::html(
        e.status,
        format!(
            "<!DOCTYPE html><html><head><title>An error has occurred - Mastodon</title></head><body>\
             <h1>An error has occurred</h1><p>{}</p></body></html>",
            html_escape(&e.description)
        ),
    )
}

fn percent(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn unpercent(s: String) -> String {
    form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map_or(s, |(_, v)| v.into_owned())
}
