//! Several accounts on several instances in one JSON file, with an active account.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mastodon_auth_core::{
    AccountKey, AppCredentials, CredentialStore, InstanceUrl, StoreError, UserCredentials,
};
use serde_json::{Map, Value};

use crate::atomic::{self, corrupt, io_err};

/// The file format version this crate writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// A multi-account credential file, in the spirit of toot's: apps per instance, users per
/// `user@host`, and an active user.
///
/// ```json
/// {
///   "version": 1,
///   "apps": { "https://example.com": { "client_id": "…", "client_secret": "…", "name": "…" } },
///   "users": { "alice@example.com": { "instance": "https://example.com", "access_token": "…" } },
///   "active": "alice@example.com"
/// }
/// ```
///
/// Every call reads the file, so several programs can share it. Every change is a
/// read-modify-write under an exclusive lock on `<file>.lock`, written atomically with mode
/// 0600, so concurrent writers never lose each other's updates. A file that cannot be read or
/// parsed (or that a newer version of this crate wrote) is an error naming it, and is never
/// overwritten.
///
/// ```
/// use mastodon_auth_core::{AccessToken, CredentialStore, UserCredentials};
/// use mastodon_auth_store::AccountsFile;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let store = AccountsFile::open(dir.path().join("accounts.json"));
/// let alice = "alice@example.com".parse()?;
/// let user = UserCredentials::new("https://example.com".parse()?, AccessToken::new("t"))
///     .with_account(alice);
/// store.save_user(&user).await?;
/// assert_eq!(store.active_user().await?, user.account);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AccountsFile {
    path: PathBuf,
}

/// The parsed file.
#[derive(Debug, Default)]
struct Doc {
    apps: BTreeMap<String, AppCredentials>,
    users: BTreeMap<String, UserCredentials>,
    active: Option<String>,
}

impl AccountsFile {
    /// A store over the file at `path`. Nothing is read or created until the first call; a
    /// missing file is an empty store.
    #[must_use]
    pub fn open(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// `<platform config folder>/mastodon-auth/accounts.json` (for example
    /// `~/.config/mastodon-auth/accounts.json` on Linux), or `None` when the platform has no
    /// config folder.
    #[must_use]
    pub fn default_location() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("mastodon-auth").join("accounts.json"))
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Doc) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        atomic::blocking(&self.path, move || f(load(&path)?)).await
    }

    /// Runs `f` on the current content under the lock and writes the result back when `f`
    /// says it changed something.
    async fn update<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Doc) -> Result<(T, bool), StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        atomic::blocking(&self.path, move || {
            let _lock = atomic::lock(&path)?;
            // A file that fails to load is returned as an error here, before any write.
            let mut doc = load(&path)?;
            let (out, changed) = f(&mut doc)?;
            if changed {
                atomic::write_atomic(&path, render(&doc, &path)?.as_bytes())?;
            }
            Ok(out)
        })
        .await
    }
}

fn load(path: &Path) -> Result<Doc, StoreError> {
    match atomic::read_bounded(path)? {
        Some(text) => parse(&text, path),
        None => Ok(Doc::default()),
    }
}

/// A serde message without values from the file (which may be secrets).
fn safe_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or_default();
    if msg.starts_with("missing field") || msg.starts_with("unknown field") {
        msg.to_owned()
    } else {
        "a field has a value of the wrong type or form".to_owned()
    }
}

fn section<'a>(
    top: &'a Map<String, Value>,
    name: &str,
    path: &Path,
) -> Result<Option<&'a Map<String, Value>>, StoreError> {
    match top.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(corrupt(path, None, format!("\"{name}\" is not an object"))),
    }
}

fn entry(value: &Value, key_field: &str, key: &str) -> Result<Value, String> {
    let Value::Object(map) = value else {
        return Err("is not an object".to_owned());
    };
    let mut map = map.clone();
    map.insert(key_field.to_owned(), Value::String(key.to_owned()));
    Ok(Value::Object(map))
}

fn parse(text: &str, path: &Path) -> Result<Doc, StoreError> {
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
    let Value::Object(top) = top else {
        return Err(corrupt(path, None, "the top level is not a JSON object"));
    };
    match top.get("version").map(Value::as_u64) {
        None => return Err(corrupt(path, None, "there is no \"version\"")),
        Some(Some(FORMAT_VERSION)) => {}
        Some(Some(v)) if v > FORMAT_VERSION => {
            return Err(corrupt(
                path,
                None,
                format!(
                    "format version {v} was written by a newer mastodon-auth; this one reads \
                     version {FORMAT_VERSION} and will not change the file"
                ),
            ));
        }
        Some(_) => {
            return Err(corrupt(
                path,
                None,
                format!(
                    "\"version\" is not a supported format version (expected {FORMAT_VERSION})"
                ),
            ));
        }
    }
    let mut doc = Doc::default();
    if let Some(apps) = section(&top, "apps", path)? {
        for (key, value) in apps {
            let instance = InstanceUrl::parse(key).map_err(|_| {
                corrupt(
                    path,
                    None,
                    format!("the app key {key:?} is not an instance URL"),
                )
            })?;
            let app: AppCredentials = entry(value, "instance", instance.as_str())
                .and_then(|v| serde_json::from_value(v).map_err(|e| safe_reason(&e)))
                .map_err(|why| corrupt(path, None, format!("the app for {instance}: {why}")))?;
            doc.apps.insert(instance.to_string(), app);
        }
    }
    if let Some(users) = section(&top, "users", path)? {
        for (key, value) in users {
            let account = AccountKey::parse(key).map_err(|_| {
                corrupt(
                    path,
                    None,
                    format!("the user key {key:?} is not of the form user@host"),
                )
            })?;
            let user: UserCredentials = entry(value, "account", account.as_str())
                .and_then(|v| serde_json::from_value(v).map_err(|e| safe_reason(&e)))
                .map_err(|why| corrupt(path, None, format!("the user {account}: {why}")))?;
            doc.users.insert(account.to_string(), user);
        }
    }
    doc.active = match top.get("active") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let key = AccountKey::parse(s).map(|k| k.to_string()).ok();
            match key.filter(|k| doc.users.contains_key(k)) {
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
    Ok(doc)
}

fn render(doc: &Doc, path: &Path) -> Result<String, StoreError> {
    #[derive(serde::Serialize)]
    struct OnDisk<'a> {
        version: u64,
        apps: BTreeMap<&'a str, Value>,
        users: BTreeMap<&'a str, Value>,
        active: Option<&'a str>,
    }
    let encode_err =
        |e: serde_json::Error| io_err("encode", path, std::io::Error::other(safe_reason(&e)));
    // The key already says which instance / account an entry is; do not repeat it inside.
    let without = |mut v: Value, field: &str| {
        if let Value::Object(map) = &mut v {
            map.remove(field);
        }
        v
    };
    let mut out = OnDisk {
        version: FORMAT_VERSION,
        apps: BTreeMap::new(),
        users: BTreeMap::new(),
        active: doc.active.as_deref(),
    };
    for (k, app) in &doc.apps {
        let v = serde_json::to_value(app).map_err(encode_err)?;
        out.apps.insert(k, without(v, "instance"));
    }
    for (k, user) in &doc.users {
        let v = serde_json::to_value(user).map_err(encode_err)?;
        out.users.insert(k, without(v, "account"));
    }
    let mut text = serde_json::to_string_pretty(&out).map_err(encode_err)?;
    text.push('\n');
    Ok(text)
}

#[async_trait::async_trait]
impl CredentialStore for AccountsFile {
    async fn load_app(&self, instance: &InstanceUrl) -> Result<Option<AppCredentials>, StoreError> {
        let key = instance.to_string();
        self.read(move |mut doc| Ok(doc.apps.remove(&key))).await
    }

    async fn save_app(&self, app: &AppCredentials) -> Result<(), StoreError> {
        let app = app.clone();
        self.update(move |doc| {
            doc.apps.insert(app.instance.to_string(), app);
            Ok(((), true))
        })
        .await
    }

    async fn load_user(&self, account: &AccountKey) -> Result<Option<UserCredentials>, StoreError> {
        let key = account.to_string();
        self.read(move |mut doc| Ok(doc.users.remove(&key))).await
    }

    async fn load_active_user(&self) -> Result<Option<UserCredentials>, StoreError> {
        self.read(|mut doc| Ok(doc.active.and_then(|k| doc.users.remove(&k))))
            .await
    }

    async fn save_user(&self, user: &UserCredentials) -> Result<(), StoreError> {
        let Some(account) = &user.account else {
            return Err(StoreError::AccountRequired);
        };
        let key = account.to_string();
        let user = user.clone();
        self.update(move |doc| {
            doc.users.insert(key.clone(), user);
            doc.active = Some(key);
            Ok(((), true))
        })
        .await
    }

    async fn remove_user(&self, account: &AccountKey) -> Result<bool, StoreError> {
        let key = account.to_string();
        self.update(move |doc| {
            let removed = doc.users.remove(&key).is_some();
            if doc.active.as_deref() == Some(key.as_str()) {
                doc.active = None;
            }
            Ok((removed, removed))
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<AccountKey>, StoreError> {
        self.read(|doc| Ok(doc.users.into_values().filter_map(|u| u.account).collect()))
            .await
    }

    async fn active_user(&self) -> Result<Option<AccountKey>, StoreError> {
        self.read(|mut doc| {
            Ok(doc
                .active
                .and_then(|k| doc.users.remove(&k))
                .and_then(|u| u.account))
        })
        .await
    }

    async fn set_active_user(&self, account: &AccountKey) -> Result<(), StoreError> {
        let key = account.to_string();
        self.update(move |doc| {
            if !doc.users.contains_key(&key) {
                return Err(StoreError::UnknownAccount(key));
            }
            let changed = doc.active.as_deref() != Some(key.as_str());
            doc.active = Some(key);
            Ok(((), changed))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("accounts.json")
    }

    fn reason(text: &str) -> (Option<usize>, String) {
        match parse(text, p()) {
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
        assert!(reason(r#"[1]"#).1.contains("not a JSON object"));
        assert!(reason("  \n").1.contains("empty"));
    }

    #[test]
    fn entries_do_not_repeat_their_key() {
        let mut doc = Doc::default();
        let url: InstanceUrl = "https://example.com".parse().unwrap();
        let app = AppCredentials::new(url.clone(), "id", "sec".into());
        doc.apps.insert(url.to_string(), app);
        let user =
            UserCredentials::new(url, "tok".into()).with_account("a@example.com".parse().unwrap());
        doc.users.insert("a@example.com".into(), user);
        doc.active = Some("a@example.com".into());
        let text = render(&doc, p()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["apps"]["https://example.com"].get("instance"), None);
        assert_eq!(v["users"]["a@example.com"].get("account"), None);
        assert_eq!(
            v["users"]["a@example.com"]["instance"],
            "https://example.com"
        );
        assert_eq!(v["active"], "a@example.com");
        let back = parse(&text, p()).unwrap();
        assert_eq!(back.apps, doc.apps);
        assert_eq!(back.users, doc.users);
    }
}
