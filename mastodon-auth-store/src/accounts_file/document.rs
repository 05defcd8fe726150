//! The accounts file's JSON document: parsed into credentials and rendered back, with every
//! field this version does not know kept as it was.

use std::collections::BTreeMap;
use std::path::Path;

use mastodon_auth_core::{
    AccountKey, AppCredentials, InstanceUrl, StoreError, UserCredentials, redact,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::atomic::{corrupt, io_err};

/// The file format version this crate writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// The fields of the top level that this version reads; any other is kept as it is.
const KNOWN_TOP_LEVEL: [&str; 4] = ["version", "apps", "users", "active"];

/// The parsed file: apps by instance URL, users by account key, the active account, and the
/// top-level fields of a newer version or another tool, written back unchanged.
#[derive(Debug, Default)]
pub(super) struct Document {
    pub(super) apps: BTreeMap<String, Entry<AppCredentials>>,
    pub(super) users: BTreeMap<String, Entry<UserCredentials>>,
    pub(super) active: Option<String>,
    unknown: Map<String, Value>,
}

/// One app or user, with the fields of its entry that the credentials have no place for.
#[derive(Debug)]
pub(super) struct Entry<T> {
    pub(super) creds: T,
    unknown: Map<String, Value>,
}

impl Document {
    /// Keeps `app` under its instance; a replaced entry's unknown fields stay.
    pub(super) fn put_app(&mut self, app: AppCredentials) {
        put(&mut self.apps, app.instance.to_string(), app);
    }

    /// Keeps `user` under `key`; a replaced entry's unknown fields stay.
    pub(super) fn put_user(&mut self, key: String, user: UserCredentials) {
        put(&mut self.users, key, user);
    }

    /// Takes out the user kept under `key`.
    pub(super) fn take_user(&mut self, key: &str) -> Option<UserCredentials> {
        self.users.remove(key).map(|e| e.creds)
    }

    /// Takes out the active user.
    pub(super) fn take_active_user(&mut self) -> Option<UserCredentials> {
        let key = self.active.take()?;
        self.take_user(&key)
    }

    /// Parses the file's text. `path` only names the file in errors.
    pub(super) fn parse(text: &str, path: &Path) -> Result<Self, StoreError> {
        if text.trim().is_empty() {
            return Err(corrupt(path, None, "the file is empty (truncated?)"));
        }
        let top: Value = serde_json::from_str(text).map_err(|e| {
            let why = match e.classify() {
                serde_json::error::Category::Eof => {
                    "the JSON ends too early (the file is truncated?)".to_owned()
                }
                _ => format!("is not valid JSON (column {})", e.column()),
            };
            corrupt(path, Some(e.line()), why)
        })?;
        let Value::Object(mut top) = top else {
            return Err(corrupt(path, None, "the top level is not a JSON object"));
        };
        check_version(top.get("version"), path)?;
        let apps = parse_entries(&top, "apps", "instance", "the app for", path, |key| {
            InstanceUrl::parse(key)
                .map(|url| url.to_string())
                .map_err(|_| {
                    // A key with `@` may hold a password (`https://user:pass@host`): not quoted.
                    let shown = if key.contains('@') {
                        "with a user name".to_owned()
                    } else {
                        format!("{key:?}")
                    };
                    format!("the app key {shown} is not an instance URL")
                })
        })?;
        let users = parse_entries(&top, "users", "account", "the user", path, |key| {
            AccountKey::parse(key)
                .map(|k| k.to_string())
                .map_err(|_| format!("the user key {key:?} is not of the form user@host"))
        })?;
        let active = match top.get("active") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let key = AccountKey::parse(s).map(|k| k.to_string()).ok();
                match key.filter(|k| users.contains_key(k)) {
                    Some(k) => Some(k),
                    None => {
                        return Err(corrupt(
                            path,
                            None,
                            format!("\"active\" names {s:?}, which is not in \"users\""),
                        ));
                    }
                }
            }
            Some(_) => return Err(corrupt(path, None, "\"active\" is not a string or null")),
        };
        top.retain(|k, _| !KNOWN_TOP_LEVEL.contains(&k.as_str()));
        Ok(Self {
            apps,
            users,
            active,
            unknown: top,
        })
    }

    /// The file's new text.
    pub(super) fn render(&self, path: &Path) -> Result<String, StoreError> {
        #[derive(Serialize)]
        struct OnDisk<'a> {
            version: u64,
            apps: BTreeMap<&'a str, Value>,
            users: BTreeMap<&'a str, Value>,
            active: Option<&'a str>,
            #[serde(flatten)]
            unknown: &'a Map<String, Value>,
        }
        let out = OnDisk {
            version: FORMAT_VERSION,
            apps: render_entries(&self.apps, "instance", path)?,
            users: render_entries(&self.users, "account", path)?,
            active: self.active.as_deref(),
            unknown: &self.unknown,
        };
        let mut text = serde_json::to_string_pretty(&out).map_err(|e| encode_error(&e, path))?;
        text.push('\n');
        Ok(text)
    }
}

fn put<T>(entries: &mut BTreeMap<String, Entry<T>>, key: String, creds: T) {
    match entries.get_mut(&key) {
        Some(entry) => entry.creds = creds,
        None => {
            entries.insert(
                key,
                Entry {
                    creds,
                    unknown: Map::new(),
                },
            );
        }
    }
}

fn check_version(version: Option<&Value>, path: &Path) -> Result<(), StoreError> {
    match version.map(Value::as_u64) {
        None => Err(corrupt(path, None, "there is no \"version\"")),
        Some(Some(FORMAT_VERSION)) => Ok(()),
        Some(Some(v)) if v > FORMAT_VERSION => Err(corrupt(
            path,
            None,
            format!(
                "format version {v} was written by a newer mastodon-auth; this one reads \
                 version {FORMAT_VERSION} and will not change the file"
            ),
        )),
        Some(_) => Err(corrupt(
            path,
            None,
            format!("\"version\" is not a supported format version (expected {FORMAT_VERSION})"),
        )),
    }
}

fn encode_error(e: &serde_json::Error, path: &Path) -> StoreError {
    io_err("encode", path, std::io::Error::other(redact::json_error(e)))
}

/// The entries of the section `name` (`"apps"`, `"users"`), by normalised key. The key is also
/// the entry's `key_field`, which the entry itself does not repeat. Two keys that normalise to
/// one are an error naming both: keeping either would silently drop the other.
fn parse_entries<T: DeserializeOwned + Serialize>(
    top: &Map<String, Value>,
    name: &str,
    key_field: &str,
    label: &str,
    path: &Path,
    normalise: impl Fn(&str) -> Result<String, String>,
) -> Result<BTreeMap<String, Entry<T>>, StoreError> {
    let section = match top.get(name) {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(corrupt(path, None, format!("\"{name}\" is not an object"))),
    };
    let mut entries = BTreeMap::new();
    let mut written_as: BTreeMap<String, &str> = BTreeMap::new();
    for (key, value) in section {
        let norm = normalise(key).map_err(|why| corrupt(path, None, why))?;
        if let Some(first) = written_as.insert(norm.clone(), key) {
            return Err(corrupt(
                path,
                None,
                format!(
                    "\"{name}\" has both {first:?} and {key:?}, which are the same {key_field} \
                     {norm}: remove one of them"
                ),
            ));
        }
        let bad = |why: String| corrupt(path, None, format!("{label} {norm}: {why}"));
        let Value::Object(fields) = value else {
            return Err(bad("is not an object".to_owned()));
        };
        let mut fields = fields.clone();
        fields.insert(key_field.to_owned(), Value::String(norm.clone()));
        let creds: T = serde_json::from_value(Value::Object(fields.clone()))
            .map_err(|e| bad(redact::json_error(&e)))?;
        // What the credentials write back is what they hold; the rest is kept aside. (A field
        // they hold only as its empty default, `null` or `[]`, is kept too, which is harmless:
        // it reads back as the same default.)
        let held = match serde_json::to_value(&creds) {
            Ok(Value::Object(held)) => held,
            Ok(_) => Map::new(),
            Err(e) => return Err(bad(redact::json_error(&e))),
        };
        fields.retain(|k, _| !held.contains_key(k));
        entries.insert(
            norm,
            Entry {
                creds,
                unknown: fields,
            },
        );
    }
    Ok(entries)
}

/// Each entry as its unknown fields overlaid with what the credentials hold, without the key
/// field (the section's key already says it).
fn render_entries<'a, T: Serialize>(
    entries: &'a BTreeMap<String, Entry<T>>,
    key_field: &str,
    path: &Path,
) -> Result<BTreeMap<&'a str, Value>, StoreError> {
    let mut out = BTreeMap::new();
    for (key, entry) in entries {
        let mut fields = entry.unknown.clone();
        if let Value::Object(held) =
            serde_json::to_value(&entry.creds).map_err(|e| encode_error(&e, path))?
        {
            fields.extend(held);
        }
        fields.remove(key_field);
        out.insert(key.as_str(), Value::Object(fields));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mastodon_auth_core::ClientCredentials;

    fn p() -> &'static Path {
        Path::new("accounts.json")
    }

    fn reason(text: &str) -> (Option<usize>, String) {
        match Document::parse(text, p()) {
            Err(StoreError::Corrupt { line, reason, .. }) => (line, reason),
            other => panic!("{text:?}: expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn a_newer_version_is_refused_with_a_reason() {
        let (_, why) = reason(r#"{"version": 2, "apps": {}, "users": {}}"#);
        assert!(why.contains("newer"), "{why}");
        assert!(why.contains("version 2"), "{why}");
    }

    #[test]
    fn missing_or_odd_versions_are_corrupt() {
        assert!(reason(r#"{"apps": {}}"#).1.contains("no \"version\""));
        assert!(reason(r#"{"version": "1"}"#).1.contains("not a supported"));
        assert!(reason(r#"{"version": 0}"#).1.contains("not a supported"));
    }

    #[test]
    fn truncated_json_names_the_line() {
        let (line, why) = reason("{\n  \"version\": 1,\n  \"apps\": {");
        assert_eq!(line, Some(3));
        assert!(why.contains("truncated"), "{why}");
        let (line, _) = reason("{\n\n  \"version\" 1}");
        assert_eq!(line, Some(3));
    }

    #[test]
    fn errors_do_not_quote_secret_values() {
        let text = r#"{"version": 1, "users": {"a@b.example": {"instance": "https://b.example", "access_token": ["s3cr3t"]}}}"#;
        let (_, why) = reason(text);
        assert!(!why.contains("s3cr3t"), "{why}");
        assert!(why.contains("a@b.example"), "{why}");
        let text = r#"{"version": 1, "apps": {"https://b.example": {"client_secret": "s3cr3t"}}}"#;
        let (_, why) = reason(text);
        assert!(why.contains("missing field `client_id`"), "{why}");
        assert!(!why.contains("s3cr3t"), "{why}");
        let (_, why) = reason(r#"{"version": 1, "apps": {"https://u:s3cr3t@b.example": {}}}"#);
        assert!(!why.contains("s3cr3t"), "{why}");
    }

    #[test]
    fn a_user_with_half_a_client_is_corrupt_not_dropped() {
        let text = r#"{"version": 1, "users": {"a@b.example": {"instance": "https://b.example", "access_token": "t", "client_id": "cid"}}}"#;
        let (_, why) = reason(text);
        assert!(why.contains("a@b.example"), "{why}");
        assert!(why.contains("missing field `client_secret`"), "{why}");
        let text = r#"{"version": 1, "users": {"a@b.example": {"instance": "https://b.example", "access_token": "t", "client_secret": "s3cr3t"}}}"#;
        let (_, why) = reason(text);
        assert!(why.contains("missing field `client_id`"), "{why}");
        assert!(!why.contains("s3cr3t"), "{why}");
        let text = r#"{"version": 1, "users": {"a@b.example": {"instance": "https://b.example", "access_token": "t", "client_id": "cid", "client_secret": "s"}}}"#;
        let doc = Document::parse(text, p()).unwrap();
        let v: Value = serde_json::from_str(&doc.render(p()).unwrap()).unwrap();
        assert_eq!(v["users"]["a@b.example"]["client_id"], "cid");
        assert_eq!(v["users"]["a@b.example"]["client_secret"], "s");
    }

    #[test]
    fn dangling_active_is_corrupt() {
        let (_, why) = reason(r#"{"version": 1, "users": {}, "active": "a@b.example"}"#);
        assert!(why.contains("not in \"users\""), "{why}");
    }

    #[test]
    fn keys_are_validated() {
        assert!(
            reason(r#"{"version": 1, "users": {"nobody": {}}}"#)
                .1
                .contains("user@host")
        );
        assert!(
            reason(r#"{"version": 1, "apps": {"ftp://x": {}}}"#)
                .1
                .contains("instance URL")
        );
        assert!(reason(r"[1]").1.contains("not a JSON object"));
        assert!(reason("  \n").1.contains("empty"));
    }

    #[test]
    fn apps_whose_urls_are_one_instance_collide() {
        let (_, why) = reason(
            r#"{"version": 1, "apps": {"https://b.example": {"client_id": "a", "client_secret": "s"}, "b.example/": {"client_id": "b", "client_secret": "s"}}}"#,
        );
        assert!(why.contains("\"https://b.example\""), "{why}");
        assert!(why.contains("\"b.example/\""), "{why}");
        assert!(why.contains("https://b.example"), "{why}");
    }

    #[test]
    fn entries_do_not_repeat_their_key() {
        let mut doc = Document::default();
        let url: InstanceUrl = "https://example.com".parse().unwrap();
        doc.put_app(AppCredentials::new(
            url.clone(),
            ClientCredentials::new("id", "sec"),
        ));
        let user =
            UserCredentials::new(url, "tok".into()).with_account("a@example.com".parse().unwrap());
        doc.put_user("a@example.com".into(), user);
        doc.active = Some("a@example.com".into());
        let text = doc.render(p()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["apps"]["https://example.com"].get("instance"), None);
        assert_eq!(v["users"]["a@example.com"].get("account"), None);
        assert_eq!(
            v["users"]["a@example.com"]["instance"],
            "https://example.com"
        );
        assert_eq!(v["active"], "a@example.com");
        let back = Document::parse(&text, p()).unwrap();
        assert_eq!(back.apps.len(), 1);
        assert_eq!(
            back.users["a@example.com"].creds,
            doc.users["a@example.com"].creds
        );
    }

    #[test]
    fn unknown_fields_survive_and_held_fields_win() {
        let text = r#"{
            "version": 1,
            "theme": "dark",
            "users": {"a@b.example": {"instance": "https://b.example", "access_token": "t1",
                                      "note": {"pinned": true}, "scopes": null}}
        }"#;
        let mut doc = Document::parse(text, p()).unwrap();
        let mut user = doc.users["a@b.example"].creds.clone();
        user.access_token = "t2".into();
        user.scopes = Some("read".parse().unwrap());
        doc.put_user("a@b.example".into(), user);
        let v: Value = serde_json::from_str(&doc.render(p()).unwrap()).unwrap();
        assert_eq!(v["theme"], "dark");
        let entry = &v["users"]["a@b.example"];
        assert_eq!(entry["note"]["pinned"], true);
        assert_eq!(entry["access_token"], "t2");
        assert_eq!(entry["scopes"], "read");
    }
}
