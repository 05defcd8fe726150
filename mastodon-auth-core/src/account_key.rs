//! Account keys (`user@host`), the names stores keep accounts under.

use std::fmt;
use std::str::FromStr;

use crate::instance_url::{InstanceUrl, ascii_host, split_port};
use crate::text::is_bidi_control;

/// An account, as `user@host`: the instance's host name, lower-cased, with its port when it
/// is not the default (`alice@localhost:3000`), so that two instances on one machine do not
/// share keys.
///
/// A key is shown to people (account lists, prompts), and part of it comes from the server
/// (the user name), so it refuses control characters and bidirectional-text controls: with
/// them a key could rewrite the terminal or display as another account.
///
/// ```
/// use mastodon_auth_core::{AccountKey, InstanceUrl};
/// let key: AccountKey = "Alice@Social.Example".parse()?;
/// assert_eq!(key.to_string(), "Alice@social.example");
/// assert_eq!(key.username(), "Alice");
/// assert!("alice".parse::<AccountKey>().is_err());
/// assert!("al\u{1b}[31mice@social.example".parse::<AccountKey>().is_err());
///
/// let local = InstanceUrl::parse("http://localhost:3000")?;
/// assert_eq!(AccountKey::new("alice", &local)?.to_string(), "alice@localhost:3000");
/// # Ok::<(), mastodon_auth_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountKey {
    key: String,
    at: usize,
}

impl AccountKey {
    /// The key of `username` on `instance` (with the instance's port when it is not the
    /// default).
    ///
    /// # Errors
    /// [`AccountKeyError`] for an empty user name or one with `@`, `/`, white space,
    /// control characters or bidirectional-text controls.
    pub fn new(username: &str, instance: &InstanceUrl) -> Result<Self, AccountKeyError> {
        Self::parse(&format!("{username}@{}", instance.authority()))
    }

    /// Parses `user@host[:port]` (a leading `@` is allowed, as in `@alice@example.com`).
    /// An international host name is kept in its ASCII (punycode) form, as
    /// [`InstanceUrl`] keeps it.
    ///
    /// # Errors
    /// [`AccountKeyError`] when it is not of that form, has an invalid port, or
    /// contains control characters or bidirectional-text controls.
    pub fn parse(s: &str) -> Result<Self, AccountKeyError> {
        let s = s.trim();
        let s = s.strip_prefix('@').unwrap_or(s);
        let bad = |problem| AccountKeyError {
            key: s.chars().take(128).collect(),
            problem,
        };
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(bad(AccountKeyProblem::ControlCharacter(c)));
        }
        if let Some(c) = s.chars().find(|c| is_bidi_control(*c)) {
            return Err(bad(AccountKeyProblem::BidiControl(c)));
        }
        let (user, host) = s
            .split_once('@')
            .ok_or_else(|| bad(AccountKeyProblem::Form))?;
        let ok = |p: &str| {
            !p.is_empty() && !p.contains('@') && !p.chars().any(|c| c.is_whitespace() || c == '/')
        };
        if !ok(user) || !ok(host) {
            return Err(bad(AccountKeyProblem::Form));
        }
        let (name, port) = split_port(host).map_err(|_| bad(AccountKeyProblem::Host))?;
        let name = ascii_host(name).map_err(|_| bad(AccountKeyProblem::Host))?;
        if name.is_empty() {
            return Err(bad(AccountKeyProblem::Host));
        }
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Self {
            key: format!("{user}@{}{port}", name.to_ascii_lowercase()),
            at: user.len(),
        })
    }

    /// The user name.
    #[must_use]
    pub fn username(&self) -> &str {
        &self.key[..self.at]
    }

    /// The instance's host, with its port when it has one (`localhost:3000`).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.key[self.at + 1..]
    }

    /// `user@host`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({:?})", self.key)
    }
}

impl FromStr for AccountKey {
    type Err = AccountKeyError;
    fn from_str(s: &str) -> Result<Self, AccountKeyError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for AccountKey {
    type Error = AccountKeyError;
    fn try_from(s: String) -> Result<Self, AccountKeyError> {
        Self::parse(&s)
    }
}

impl From<AccountKey> for String {
    fn from(k: AccountKey) -> String {
        k.key
    }
}

/// An account key that cannot be used: the key as given and what is wrong with it. Converts
/// into [`Error::InvalidAccountKey`](crate::Error::InvalidAccountKey).
///
/// ```
/// use mastodon_auth_core::{AccountKey, AccountKeyProblem};
/// let err = "alice".parse::<AccountKey>().unwrap_err();
/// assert_eq!(err.problem, AccountKeyProblem::Form);
/// assert_eq!(err.to_string(), r#"invalid account "alice": expected user@instance"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountKeyError {
    /// The key as given, cut to 128 characters (shown escaped by `Debug` formatting, so a
    /// control character in it cannot reach a terminal).
    pub key: String,
    /// What is wrong with it.
    pub problem: AccountKeyProblem,
}

impl fmt::Display for AccountKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid account {:?}: {}", self.key, self.problem)
    }
}

impl std::error::Error for AccountKeyError {}

/// What is wrong with an account key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountKeyProblem {
    /// It is not `user@host` (a part is empty, or has `@`, `/` or white space).
    Form,
    /// It contains a control character (C0, C1, DEL), shown escaped.
    ControlCharacter(char),
    /// It contains a bidirectional-text control (U+202A–U+202E, U+2066–U+2069, U+200E,
    /// U+200F, U+061C), which can make a key display as another.
    BidiControl(char),
    /// The host part is not a valid host (with an optional port from 1 to 65535).
    Host,
}

impl fmt::Display for AccountKeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountKeyProblem::Form => f.write_str("expected user@instance"),
            AccountKeyProblem::ControlCharacter(c) => {
                write!(f, "it contains the control character {c:?}")
            }
            AccountKeyProblem::BidiControl(c) => {
                write!(f, "it contains the bidirectional-text control {c:?}")
            }
            AccountKeyProblem::Host => {
                f.write_str("the instance must be a host name with an optional port (1-65535)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_11_account_keys_keep_a_non_default_port() {
        let a = InstanceUrl::parse("http://localhost:3000").unwrap();
        let b = InstanceUrl::parse("http://localhost:3001").unwrap();
        let ka = AccountKey::new("alice", &a).unwrap();
        let kb = AccountKey::new("alice", &b).unwrap();
        assert_eq!(ka.as_str(), "alice@localhost:3000");
        assert_ne!(ka, kb);
        assert_eq!(ka.host(), "localhost:3000");
        assert_eq!(ka.username(), "alice");
        let default = InstanceUrl::parse("https://Social.Example:443").unwrap();
        assert_eq!(
            AccountKey::new("bob", &default).unwrap().as_str(),
            "bob@social.example"
        );
        assert_eq!(AccountKey::parse("alice@LocalHost:3000").unwrap(), ka);
        let v6 = InstanceUrl::parse("http://[::1]:3000").unwrap();
        assert_eq!(AccountKey::new("c", &v6).unwrap().as_str(), "c@[::1]:3000");
        for bad in [
            "alice@localhost:99999",
            "alice@localhost:",
            "alice@localhost:x",
            "alice@:80",
            "alice@::1",
        ] {
            assert!(
                matches!(
                    AccountKey::parse(bad),
                    Err(AccountKeyError {
                        problem: AccountKeyProblem::Host,
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_error_names_the_key_and_the_problem() {
        let err = AccountKey::parse("alice").unwrap_err();
        assert_eq!(
            err,
            AccountKeyError {
                key: "alice".into(),
                problem: AccountKeyProblem::Form
            }
        );
        assert_eq!(
            err.to_string(),
            r#"invalid account "alice": expected user@instance"#
        );
        assert_eq!(
            AccountKey::parse("al\u{202E}ice@x.example")
                .unwrap_err()
                .to_string(),
            r#"invalid account "al\u{202e}ice@x.example": it contains the bidirectional-text control '\u{202e}'"#
        );
        assert_eq!(
            AccountKey::parse("a@b\u{7}").unwrap_err().problem,
            AccountKeyProblem::ControlCharacter('\u{7}')
        );
        assert_eq!(
            AccountKey::parse("a@x.example:0").unwrap_err().to_string(),
            r#"invalid account "a@x.example:0": the instance must be a host name with an optional port (1-65535)"#
        );
    }
}
