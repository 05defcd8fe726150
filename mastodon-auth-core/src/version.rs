//! Instance version strings, in every form servers send.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The software behind an instance, as far as its version string tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerSoftware {
    /// Mastodon (or a fork that does not say otherwise).
    Mastodon,
    /// glitch-soc (`+glitch` build metadata).
    Glitch,
    /// Hometown (`1.0.5+3.5.2` or `+hometown`).
    Hometown,
    /// Pleroma (`2.7.2 (compatible; Pleroma 2.5.0)`).
    Pleroma,
    /// Akkoma (`2.7.2 (compatible; Akkoma 3.x)`).
    Akkoma,
    /// GoToSocial (`0.17.3`, `3.5.3+0.17.3-git-abc`).
    GoToSocial,
    /// Another `(compatible; …)` server, e.g. Wildebeest.
    OtherCompatible,
}

/// A parsed instance version. Compares by `(major, minor, patch)` only, as Mastodon.py does
/// (`4.5.0-beta.1` counts as 4.5.0).
///
/// Normalised like Mastodon.py's `retrieve_mastodon_version`: the text before the first space; for `a+b` the part
/// after `+` when it is a version with major ≥ 1 (Hometown), else the part before
/// (GoToSocial, glitch). Unlike Mastodon.py, missing components count as 0 (`4.2` is 4.2.0).
///
/// ```
/// use mastodon_auth_core::{MastodonVersion, ServerSoftware};
/// let v: MastodonVersion = "2.7.2 (compatible; Pleroma 2.5.0)".parse()?;
/// assert_eq!((v.major, v.minor, v.patch), (2, 7, 2));
/// assert_eq!(v.software, ServerSoftware::Pleroma);
/// let h: MastodonVersion = "1.0.5+3.5.2".parse()?;
/// assert_eq!(h.to_string(), "3.5.2");
/// assert!(h >= "3.5.0".parse()?);
/// # Ok::<(), mastodon_auth_core::VersionParseError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MastodonVersion {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version.
    pub patch: u64,
    /// Pre-release (`alpha.3`, `rc.1`), if any.
    pub pre: Option<String>,
    /// What the software appears to be.
    pub software: ServerSoftware,
    /// The string as the server sent it.
    pub raw: String,
}

impl MastodonVersion {
    /// A plain `major.minor.patch` Mastodon version.
    #[must_use]
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
            pre: None,
            software: ServerSoftware::Mastodon,
            raw: format!("{major}.{minor}.{patch}"),
        }
    }

    /// Parses any version string a server sends.
    ///
    /// # Errors
    /// [`VersionParseError`] when no `major[.minor[.patch]]` can be found.
    pub fn parse(raw: &str) -> Result<Self, VersionParseError> {
        let trimmed = raw.trim();
        let head = trimmed.split(' ').next().unwrap_or_default();
        let (chosen, after_plus) = match head.split_once('+') {
            Some((before, after)) => match numbers(after) {
                Some((maj, ..)) if maj >= 1 => (after, Some(after)),
                _ => (before, Some(after)),
            },
            None => (head, None),
        };
        let (major, minor, patch, pre) = numbers(chosen).ok_or_else(|| VersionParseError {
            version: cut(trimmed),
        })?;
        let lower = trimmed.to_ascii_lowercase();
        let software = if lower.contains("pleroma") {
            ServerSoftware::Pleroma
        } else if lower.contains("akkoma") {
            ServerSoftware::Akkoma
        } else if lower.contains("(compatible;") {
            ServerSoftware::OtherCompatible
        } else if lower.contains("glitch") {
            ServerSoftware::Glitch
        } else if lower.contains("hometown") || after_plus.is_some_and(|a| chosen == a) {
            ServerSoftware::Hometown
        } else if major == 0
            || lower.contains("git-")
            || after_plus.is_some_and(|a| numbers(a).is_some_and(|n| n.0 == 0))
        {
            ServerSoftware::GoToSocial
        } else {
            ServerSoftware::Mastodon
        };
        Ok(Self {
            major,
            minor,
            patch,
            pre,
            software,
            raw: trimmed.to_owned(),
        })
    }

    /// `true` when this version is at least `major.minor.patch`.
    #[must_use]
    pub fn at_least(&self, major: u64, minor: u64, patch: u64) -> bool {
        (self.major, self.minor, self.patch) >= (major, minor, patch)
    }
}

/// A version string with no `major[.minor[.patch]]` in it. Converts into
/// [`Error::Version`](crate::Error::Version) (as
/// [`VersionError::Unparsable`](crate::VersionError::Unparsable), Mastodon.py's
/// `MastodonVersionError`).
///
/// ```
/// use mastodon_auth_core::MastodonVersion;
/// let err = "banana".parse::<MastodonVersion>().unwrap_err();
/// assert_eq!(err.version, "banana");
/// assert_eq!(err.to_string(), r#"could not parse the version "banana""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionParseError {
    /// The string, cut to 80 characters.
    pub version: String,
}

impl fmt::Display for VersionParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not parse the version {:?}", self.version)
    }
}

impl std::error::Error for VersionParseError {}

fn cut(s: &str) -> String {
    s.chars().take(80).collect()
}

/// `x[.y[.z]]` with leading digits of each part; the rest of the last part after `-` is the
/// pre-release.
fn numbers(s: &str) -> Option<(u64, u64, u64, Option<String>)> {
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Some(p.to_owned()).filter(|p| !p.is_empty())),
        None => (s, None),
    };
    let mut parts = core.split('.');
    let lead = |p: Option<&str>| -> Option<Option<u64>> {
        match p {
            None => Some(None),
            Some(p) => {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                if digits.is_empty() {
                    None
                } else {
                    digits.parse().ok().map(Some)
                }
            }
        }
    };
    let major = lead(parts.next())??;
    let minor = lead(parts.next())?.unwrap_or(0);
    let patch = lead(parts.next())?.unwrap_or(0);
    Some((major, minor, patch, pre))
}

impl fmt::Display for MastodonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl FromStr for MastodonVersion {
    type Err = VersionParseError;
    fn from_str(s: &str) -> Result<Self, VersionParseError> {
        Self::parse(s)
    }
}

impl PartialEq for MastodonVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MastodonVersion {}

impl PartialOrd for MastodonVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MastodonVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> (u64, u64, u64, ServerSoftware) {
        let p = MastodonVersion::parse(s).unwrap();
        (p.major, p.minor, p.patch, p.software)
    }

    #[test]
    fn every_form_servers_send() {
        use ServerSoftware::*;
        assert_eq!(v("4.6.5"), (4, 6, 5, Mastodon));
        assert_eq!(v("4.7.0-alpha.2"), (4, 7, 0, Mastodon));
        assert_eq!(v("4.5.0-beta.1"), (4, 5, 0, Mastodon));
        assert_eq!(v("4.5.0-rc.3"), (4, 5, 0, Mastodon));
        assert_eq!(v("4.5.0-nightly.2025-07-11"), (4, 5, 0, Mastodon));
        assert_eq!(v("4.7.0-alpha.2+glitch"), (4, 7, 0, Glitch));
        assert_eq!(v("4.3.0+glitch"), (4, 3, 0, Glitch));
        assert_eq!(v("4.3.0+glitch.custom"), (4, 3, 0, Glitch));
        assert_eq!(v("4.4.0+hometown-1.x"), (4, 4, 0, Hometown));
        assert_eq!(v("1.0.5+3.5.2"), (3, 5, 2, Hometown));
        assert_eq!(v("2.7.2 (compatible; Pleroma 2.5.0)"), (2, 7, 2, Pleroma));
        assert_eq!(v("2.7.2 (compatible; Akkoma 3.10.4)"), (2, 7, 2, Akkoma));
        assert_eq!(
            v("4.0.2 (compatible; Wildebeest 0.0.1)"),
            (4, 0, 2, OtherCompatible)
        );
        assert_eq!(v("0.17.3"), (0, 17, 3, GoToSocial));
        assert_eq!(v("0.17.0 git-abc1234"), (0, 17, 0, GoToSocial));
        assert_eq!(v("0.15.0+git-1573cd"), (0, 15, 0, GoToSocial));
        assert_eq!(v("3.5.3+0.17.3-git-abc1234"), (3, 5, 3, GoToSocial));
        assert_eq!(v("4.8.0-alpha.3+pr-41085-a68fedb"), (4, 8, 0, Mastodon));
        assert_eq!(v("4.2.1rc3"), (4, 2, 1, Mastodon));
    }

    #[test]
    fn short_versions_fill_with_zero_instead_of_failing() {
        assert_eq!(v("4.2"), (4, 2, 0, ServerSoftware::Mastodon));
        assert_eq!(v("4"), (4, 0, 0, ServerSoftware::Mastodon));
    }

    #[test]
    fn garbage_is_a_version_error_not_a_panic() {
        for s in [
            "",
            "abc",
            ".1.2",
            "x.y.z",
            " (compatible; Pleroma)",
            "99999999999999999999999.0.0",
        ] {
            assert_eq!(
                MastodonVersion::parse(s).unwrap_err(),
                VersionParseError {
                    version: s.trim().into()
                },
                "{s:?}"
            );
        }
    }

    #[test]
    fn the_parse_error_is_cut_to_80_characters() {
        let err = MastodonVersion::parse(&"v".repeat(200)).unwrap_err();
        assert_eq!(err.version.chars().count(), 80);
        assert_eq!(
            err.to_string(),
            format!("could not parse the version {:?}", "v".repeat(80))
        );
    }

    #[test]
    fn ordering_ignores_prerelease() {
        assert_eq!(
            MastodonVersion::parse("4.5.0-beta.1").unwrap(),
            MastodonVersion::new(4, 5, 0)
        );
        assert!(MastodonVersion::new(4, 4, 0) > MastodonVersion::new(4, 3, 9));
        assert!(MastodonVersion::new(4, 3, 0).at_least(4, 3, 0));
        assert!(!MastodonVersion::new(4, 2, 9).at_least(4, 3, 0));
    }
}
