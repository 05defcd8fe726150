//! The OAuth `state` parameter (RFC 6749 §10.12): what ties a callback to the request that
//! started it.

use std::fmt;

use subtle::ConstantTimeEq;

/// The `state` of an authorization request: random, sent with the request, and required back
/// with the callback, so that a callback forged by another site (cross-site request forgery,
/// RFC 6749 §10.12) is refused.
///
/// Not a credential, but whoever knows it can race the person's browser to the redirect URI,
/// so `Debug` does not show it and comparisons take constant time.
///
/// ```
/// use mastodon_auth_core::State;
/// let state = State::new_random();
/// assert_eq!(state.as_str().len(), 32);
/// assert_eq!(format!("{state:?}"), "State([redacted])");
/// assert!(state.matches(state.as_str()) && !state.matches("other"));
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct State(String);

impl State {
    /// A fresh state: 24 random bytes from the operating system, base64url without padding
    /// (32 characters).
    #[must_use]
    pub fn new_random() -> Self {
        Self(crate::random::token_b64(24))
    }

    /// Wraps a state received from elsewhere (kept in a session across processes).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The state, to put in the request.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `true` when `received` (from a callback) is this state; compared in constant time.
    #[must_use]
    pub fn matches(&self, received: &str) -> bool {
        self.0.as_bytes().ct_eq(received.as_bytes()).into()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("State([redacted])")
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for State {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_states_differ_and_match_only_themselves() {
        let (a, b) = (State::new_random(), State::new_random());
        assert_ne!(a, b);
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(b.as_str()));
        assert!(!State::new("S").matches("SS") && !State::new("S").matches(""));
    }

    #[test]
    fn serde_is_transparent_and_debug_is_not() {
        let state = State::new("leak-me");
        assert_eq!(serde_json::to_string(&state).unwrap(), "\"leak-me\"");
        assert!(!format!("{state:?}").contains("leak-me"));
    }
}
