//! `POST /api/v1/apps` and `GET /api/v1/apps/verify_credentials`.

use serde_json::Value as J;

use super::handler::Req;
use super::params::Value;
use super::profile::{AppShape, Profile};
use super::random;
use super::state::{App, Shared, State};
use super::uri;
use crate::server::reply::{Reply, object};

/// The VAPID public key recorded from the Mastodon 4.7.3 test server.
pub(crate) const VAPID_KEY: &str =
    "BJGht7R8h9FMwI4oZFyjwGx9_RmR0ylu5_XEVifgiVXM7h8XNEf8zbi4kc_52DVHv_TBinj7TY_Ahl_A6NmkEuI=";

const DEFAULT_SCOPE: &str = "read";

/// Splits a scope string into distinct scopes, keeping the first occurrence's position.
pub(crate) fn split_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split_whitespace() {
        if !out.iter().any(|o| o == part) {
            out.push(part.to_owned());
        }
    }
    out
}

pub(crate) fn create(shared: &Shared, st: &mut State, req: &Req) -> Reply {
    let profile = shared.config.profile;
    let p = &req.params;
    let name = p.str("client_name").unwrap_or("").to_owned();
    let redirect_uri = match p.value("redirect_uris") {
        Some(Value::Str(s)) => s.clone(),
        // Arrays arrived in 4.3; before that `permit` dropped them.
        Some(Value::List(items)) if !matches!(profile, Profile::Mastodon4_2) => items.join("\n"),
        _ => String::new(),
    };
    // A list `scopes` is dropped by `permit` (Mastodon bug #30152), so the default applies.
    let scopes = split_scopes(p.str("scopes").unwrap_or(DEFAULT_SCOPE));
    let website = p
        .str("website")
        .filter(|w| !w.trim().is_empty())
        .map(str::to_owned);

    let mut errors: Vec<String> = Vec::new();
    if name.trim().is_empty() {
        errors.push("Application name can't be blank".into());
    }
    if redirect_uri.trim().is_empty() {
        errors.push("Redirect URI can't be blank".into());
    } else {
        for u in redirect_uri.split_whitespace() {
            for msg in uri::registration_errors(u) {
                errors.push(format!("Redirect URI {msg}"));
            }
        }
    }
    let known = profile.scopes();
    if scopes.iter().any(|s| !known.contains(&s.as_str())) {
        errors.push(profile.scope_mismatch_message().to_owned());
    }
    if name.chars().count() > 60 {
        errors.push("Application name is too long (maximum is 60 characters)".into());
    }
    if redirect_uri.chars().count() > 2000 {
        errors.push("Redirect URI is too long (maximum is 2000 characters)".into());
    }
    if let Some(w) = &website {
        if !valid_website(w) {
            errors.push("Application website is not a valid URL".into());
        }
        if w.chars().count() > 2000 {
            errors.push("Application website is too long (maximum is 2000 characters)".into());
        }
    }
    if !errors.is_empty() {
        return Reply::api_error(422, &format!("Validation failed: {}", errors.join(", ")));
    }

    let app = App {
        id: st.next_id(),
        name,
        website,
        redirect_uri,
        scopes,
        client_id: random::secret(),
        client_secret: random::secret(),
    };
    let body = credential_json(&app, profile);
    st.apps.push(app);
    Reply::json(200, body).with("cache-control", "private, no-store")
}

fn valid_website(w: &str) -> bool {
    match uri::Uri::parse(w) {
        Ok(u) => {
            matches!(u.scheme.as_deref(), Some("http" | "https"))
                && u.host.as_deref().is_some_and(|h| !h.is_empty())
        }
        Err(_) => false,
    }
}

fn website(app: &App) -> J {
    app.website.clone().map_or(J::Null, J::from)
}

/// `REST::CredentialApplicationSerializer` for each release.
fn credential_json(app: &App, profile: Profile) -> String {
    match profile.app_shape() {
        AppShape::Legacy => object(&[
            ("id", app.id.to_string().into()),
            ("name", app.name.clone().into()),
            ("website", website(app)),
            ("redirect_uri", app.redirect_uri.clone().into()),
            ("client_id", app.client_id.clone().into()),
            ("client_secret", app.client_secret.clone().into()),
            ("vapid_key", VAPID_KEY.into()),
        ]),
        shape => {
            let mut fields = vec![
                ("id", app.id.to_string().into()),
                ("name", app.name.clone().into()),
                ("website", website(app)),
                ("scopes", J::from(app.scopes.clone())),
                ("redirect_uris", J::from(app.redirect_uris())),
                ("vapid_key", VAPID_KEY.into()),
                ("redirect_uri", app.redirect_uri.clone().into()),
                ("client_id", app.client_id.clone().into()),
                ("client_secret", app.client_secret.clone().into()),
            ];
            if shape == AppShape::V4_4 {
                fields.push(("client_secret_expires_at", 0.into()));
            }
            object(&fields)
        }
    }
}

/// `REST::ApplicationSerializer` (no credentials).
pub(crate) fn public_json(app: &App, profile: Profile) -> String {
    match profile.app_shape() {
        AppShape::Legacy => object(&[
            ("name", app.name.clone().into()),
            ("website", website(app)),
            ("vapid_key", VAPID_KEY.into()),
        ]),
        _ => object(&[
            ("id", app.id.to_string().into()),
            ("name", app.name.clone().into()),
            ("website", website(app)),
            ("scopes", J::from(app.scopes.clone())),
            ("redirect_uris", J::from(app.redirect_uris())),
            ("vapid_key", VAPID_KEY.into()),
            ("redirect_uri", app.redirect_uri.clone().into()),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_split_on_spaces_and_deduplicated() {
        assert_eq!(split_scopes("read read  write"), ["read", "write"]);
        assert!(split_scopes("").is_empty());
    }
}
