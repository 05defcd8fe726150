//! OAuth scopes, and the hierarchy Mastodon.py uses to check granted against requested scopes.

use std::fmt;
use std::str::FromStr;

/// One OAuth scope, such as `read` or `write:statuses`.
///
/// Any non-empty string without white space is accepted, because servers add scopes over time
/// (Mastodon.py never validates them either); [`Scope::is_known`] tells whether current
/// Mastodon knows it.
///
/// ```
/// use mastodon_auth_core::Scope;
/// let s: Scope = "read:accounts".parse()?;
/// assert!(s.is_known());
/// assert!("read accounts".parse::<Scope>().is_err());
/// # Ok::<(), mastodon_auth_core::ScopeError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

/// A scope that cannot be sent: empty, or with white space or a control character in it.
///
/// Unknown scopes are not an error (servers add scopes over time; see [`Scope::is_known`]).
/// Converts into [`Error::InvalidScope`](crate::Error::InvalidScope), so `?` works in a
/// function returning [`Error`](crate::Error).
///
/// ```
/// use mastodon_auth_core::{Scope, ScopeError};
/// let err = "read\u{7}".parse::<Scope>().unwrap_err();
/// assert_eq!(err, ScopeError::Character { scope: "read\u{7}".into(), character: '\u{7}' });
/// assert_eq!(
///     err.to_string(),
///     r#"invalid scope "read\u{7}": '\u{7}' does not belong in a scope (a non-empty word without white space or control characters)"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// The scope is empty.
    Empty,
    /// The scope contains white space or a control character.
    Character {
        /// The scope as given, cut to 64 characters (scopes carry no secrets).
        scope: String,
        /// The first character that does not belong.
        character: char,
    },
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Empty => f.write_str(
                "invalid scope \"\": a scope is a non-empty word without white space or control characters",
            ),
            ScopeError::Character { scope, character } => write!(
                f,
                "invalid scope {scope:?}: {character:?} does not belong in a scope \
                 (a non-empty word without white space or control characters)"
            ),
        }
    }
}

impl std::error::Error for ScopeError {}

impl Scope {
    /// Validates and wraps one scope.
    ///
    /// # Errors
    /// [`ScopeError`] when the scope is empty or contains white space or a control character.
    pub fn new(scope: impl Into<String>) -> Result<Self, ScopeError> {
        let scope = scope.into();
        if scope.is_empty() {
            return Err(ScopeError::Empty);
        }
        if let Some(character) = scope.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(ScopeError::Character {
                scope: scope.chars().take(64).collect(),
                character,
            });
        }
        Ok(Self(scope))
    }

    /// The scope as the server spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `true` when current Mastodon lists this scope in `scopes_supported`.
    #[must_use]
    pub fn is_known(&self) -> bool {
        KNOWN_SCOPES.contains(&self.0.as_str())
    }

    /// The granular scopes a granted top-level scope stands for (empty for granular scopes).
    #[must_use]
    pub fn expansion(&self) -> &'static [&'static str] {
        SCOPE_SETS
            .iter()
            .find(|(k, _)| *k == self.0)
            .map_or(&[], |(_, v)| v)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({:?})", self.0)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        Self::new(s)
    }
}

/// An ordered set of scopes (first occurrence wins; duplicates are dropped).
///
/// Sent space-separated, which is how Mastodon expects them. Pass the same `Scopes` to
/// `create_app`, `auth_request_url` and `log_in`: Mastodon requires the requested scopes to be
/// a literal subset of the app's.
///
/// ```
/// use mastodon_auth_core::Scopes;
/// let granted: Scopes = "read write:statuses".parse()?;
/// assert!(granted.covers(&"read:accounts write:statuses".parse()?));
/// assert!(!granted.covers(&"write".parse()?));
/// assert_eq!(Scopes::default().to_string(), "read write follow push");
/// # Ok::<(), mastodon_auth_core::ScopeError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// The empty set.
    #[must_use]
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// Builds a set from scopes, dropping duplicates.
    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut out = Self::empty();
        for s in scopes {
            out.insert(s);
        }
        out
    }

    /// Parses a space-separated list (`+` is accepted as a separator too, as servers echo it).
    ///
    /// # Errors
    /// [`ScopeError::Character`] for a control character in the list.
    pub fn parse(list: &str) -> Result<Self, ScopeError> {
        list.split(|c: char| c.is_whitespace() || c == '+')
            .filter(|s| !s.is_empty())
            .map(Scope::new)
            .collect::<Result<Vec<_>, _>>()
            .map(Self::from_scopes)
    }

    /// Adds a scope unless it is already present.
    pub fn insert(&mut self, scope: Scope) {
        if !self.0.contains(&scope) {
            self.0.push(scope);
        }
    }

    /// `true` when the scope is in the set literally.
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.0 == scope)
    }

    /// The scopes in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Number of scopes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` for the empty set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// This set with every top-level scope followed by the granular scopes it stands for
    /// (the single-pass expansion of Mastodon.py's `log_in` scope check: `read` adds
    /// `read:accounts` and so on).
    #[must_use]
    pub fn expanded(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.0.iter().map(Scope::as_str).collect();
        for (key, members) in SCOPE_SETS {
            if self.contains(key) {
                out.extend_from_slice(members);
            }
        }
        out
    }

    /// `true` when these (granted) scopes cover every one of `requested`, with the hierarchy:
    /// `read` covers `read:accounts`, never the reverse; `push` and `profile` only themselves.
    #[must_use]
    pub fn covers(&self, requested: &Scopes) -> bool {
        let granted = self.expanded();
        requested.iter().all(|r| granted.contains(&r.as_str()))
    }
}

impl Default for Scopes {
    /// Mastodon.py's default: `read write follow push`.
    fn default() -> Self {
        Self(
            DEFAULT_SCOPES
                .iter()
                .map(|s| Scope((*s).to_owned()))
                .collect(),
        )
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&s.0)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({:?})", self.to_string())
    }
}

impl FromStr for Scopes {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        Self::parse(s)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self::from_scopes(iter)
    }
}

impl serde::Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Scopes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Mastodon.py's `_DEFAULT_SCOPES`.
pub const DEFAULT_SCOPES: &[&str] = &["read", "write", "follow", "push"];

/// Top-level scopes and the granular scopes each stands for, in Mastodon.py's order
/// (`_SCOPE_SETS` in `mastodon/authentication.py`), extended with the scopes current Mastodon
/// added (`read:collections`, `write:collections`, `write:conversations`; Mastodon's
/// `config/initializers/doorkeeper.rb` lists them).
pub const SCOPE_SETS: &[(&str, &[&str])] = &[
    (
        "read",
        &[
            "read:accounts",
            "read:blocks",
            "read:favourites",
            "read:filters",
            "read:follows",
            "read:lists",
            "read:mutes",
            "read:notifications",
            "read:search",
            "read:statuses",
            "read:bookmarks",
            "read:collections",
        ],
    ),
    (
        "write",
        &[
            "write:accounts",
            "write:blocks",
            "write:favourites",
            "write:filters",
            "write:follows",
            "write:lists",
            "write:media",
            "write:mutes",
            "write:notifications",
            "write:reports",
            "write:statuses",
            "write:bookmarks",
            "write:collections",
            "write:conversations",
        ],
    ),
    (
        "follow",
        &[
            "read:blocks",
            "read:follows",
            "read:mutes",
            "write:blocks",
            "write:follows",
            "write:mutes",
        ],
    ),
    (
        "admin:read",
        &[
            "admin:read:accounts",
            "admin:read:reports",
            "admin:read:domain_allows",
            "admin:read:domain_blocks",
            "admin:read:ip_blocks",
            "admin:read:email_domain_blocks",
            "admin:read:canonical_email_blocks",
        ],
    ),
    (
        "admin:write",
        &[
            "admin:write:accounts",
            "admin:write:reports",
            "admin:write:domain_allows",
            "admin:write:domain_blocks",
            "admin:write:ip_blocks",
            "admin:write:email_domain_blocks",
            "admin:write:canonical_email_blocks",
        ],
    ),
    ("profile", &[]),
];

/// Every scope of current Mastodon's `scopes_supported`, in the server's order (47).
pub const KNOWN_SCOPES: &[&str] = &[
    "read",
    "profile",
    "write",
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:collections",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:collections",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
    "follow",
    "push",
    "admin:read",
    "admin:read:accounts",
    "admin:read:reports",
    "admin:read:domain_allows",
    "admin:read:domain_blocks",
    "admin:read:ip_blocks",
    "admin:read:email_domain_blocks",
    "admin:read:canonical_email_blocks",
    "admin:write",
    "admin:write:accounts",
    "admin:write:reports",
    "admin:write:domain_allows",
    "admin:write:domain_blocks",
    "admin:write:ip_blocks",
    "admin:write:email_domain_blocks",
    "admin:write:canonical_email_blocks",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn s(list: &str) -> Scopes {
        Scopes::parse(list).unwrap()
    }

    #[test]
    fn hierarchy_is_one_way() {
        assert!(s("read").covers(&s("read:accounts")));
        assert!(!s("read:accounts").covers(&s("read")));
        let all_granular = SCOPE_SETS[0].1.join(" ");
        assert!(!s(&all_granular).covers(&s("read")));
        assert!(s("write").covers(&s("write:conversations")));
        assert!(s("read").covers(&s("read:collections")));
        assert!(s("follow").covers(&s("read:follows write:mutes")));
        assert!(!s("follow").covers(&s("write:statuses")));
        assert!(s("push").covers(&s("push")));
        assert!(!s("read write").covers(&s("push")));
        assert!(!s("read").covers(&s("profile")));
        assert!(s("profile").covers(&s("profile")));
        assert!(s("admin:read").covers(&s("admin:read:reports")));
        assert!(s("read").covers(&Scopes::empty()));
    }

    #[test]
    fn default_is_mastodon_py_default() {
        assert_eq!(Scopes::default().to_string(), "read write follow push");
    }

    #[test]
    fn parse_accepts_plus_and_dedups() {
        assert_eq!(s("read+write  read").to_string(), "read write");
    }

    #[test]
    fn known_scopes_are_the_server_list() {
        assert_eq!(KNOWN_SCOPES.len(), 47);
        for (k, members) in SCOPE_SETS {
            assert!(KNOWN_SCOPES.contains(k), "{k}");
            for m in *members {
                assert!(KNOWN_SCOPES.contains(m), "{m}");
            }
        }
    }

    #[test]
    fn scope_errors_say_what_is_wrong() {
        assert_eq!(Scope::new(""), Err(ScopeError::Empty));
        assert_eq!(
            Scope::new("read write"),
            Err(ScopeError::Character {
                scope: "read write".into(),
                character: ' '
            })
        );
        let long = Scope::new(format!("{}\u{0}", "x".repeat(100))).unwrap_err();
        assert!(
            matches!(&long, ScopeError::Character { scope, character: '\u{0}' } if scope.len() == 64)
        );
        assert!(
            ScopeError::Empty
                .to_string()
                .starts_with("invalid scope \"\": ")
        );
        let err = Scopes::parse("read\u{1b}[31m").unwrap_err().to_string();
        assert!(
            err.contains(r#""read\u{1b}[31m""#) && err.contains(r"'\u{1b}'"),
            "{err}"
        );
    }

    #[test]
    fn expanded_matches_mastodon_py_message_order() {
        // Mastodon.py's `log_in` expands a granted "read" in this order (plus read:collections).
        assert_eq!(
            s("read").expanded().join(" "),
            "read read:accounts read:blocks read:favourites read:filters read:follows read:lists \
             read:mutes read:notifications read:search read:statuses read:bookmarks read:collections"
        );
    }
}
