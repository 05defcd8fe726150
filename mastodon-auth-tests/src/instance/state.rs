//! The instance's data: registered apps, grants, tokens, and the test-side queues.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::clock;
use super::fault::FaultRule;
use super::profile::Profile;
use super::record::RecordedRequest;

/// The account that signs in through [`LocalInstance::approve`](crate::LocalInstance::approve)
/// and the password grant.
///
/// Its `Debug` output leaves the password out.
///
/// ```
/// # async fn demo() -> Result<(), mastodon_auth_tests::StartError> {
/// let instance = mastodon_auth_tests::LocalInstance::start().await?;
/// assert_eq!(instance.user().username, "alice");
/// assert_eq!(instance.user().email, "alice@localhost");
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestUser {
    /// Local username (`alice`).
    pub username: String,
    /// Sign-in e-mail, also the password grant's `username` (`alice@localhost`).
    pub email: String,
    /// Password (`correct horse battery staple`).
    pub password: String,
    /// Display name (`Alice`).
    pub display_name: String,
    /// Account id, a numeric string like Mastodon's snowflakes.
    pub id: String,
}

impl Default for TestUser {
    fn default() -> Self {
        Self {
            username: "alice".to_owned(),
            email: "alice@localhost".to_owned(),
            password: "correct horse battery staple".to_owned(),
            display_name: "Alice".to_owned(),
            id: "110000000000000001".to_owned(),
        }
    }
}

impl fmt::Debug for TestUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("id", &self.id)
            .finish()
    }
}

/// A limit and a fixed window aligned to multiples of the period since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Throttle {
    pub(crate) limit: u32,
    pub(crate) period: Duration,
}

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) profile: Profile,
    pub(crate) version: String,
    pub(crate) base_url: String,
    /// `host:port`, the instance's `domain`.
    pub(crate) domain: String,
    pub(crate) api_throttle: Throttle,
    pub(crate) apps_throttle: Throttle,
    pub(crate) token_lifetime: Duration,
    /// Whether each request is kept for [`LocalInstance::requests`](crate::LocalInstance::requests).
    pub(crate) record_requests: bool,
    pub(crate) user: TestUser,
    /// `GET /oauth/authorize` approves at once, without the sign-in and approval pages.
    pub(crate) auto_approve: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) website: Option<String>,
    /// The raw stored string: URIs joined with `\n`.
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
}

impl App {
    pub(crate) fn redirect_uris(&self) -> Vec<String> {
        self.redirect_uri
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) app_id: u64,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) code_challenge_method: Option<String>,
    pub(crate) expires_at: Duration,
    pub(crate) used: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) id: u64,
    pub(crate) token: String,
    pub(crate) app_id: u64,
    /// Issued to the test user (`false`: client credentials).
    pub(crate) user: bool,
    pub(crate) scopes: Vec<String>,
    pub(crate) created_at: u64,
    pub(crate) revoked: bool,
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_at: Option<Duration>,
}

impl Token {
    pub(crate) fn same_scopes(&self, scopes: &[String]) -> bool {
        let mut a: Vec<&String> = self.scopes.iter().collect();
        let mut b: Vec<&String> = scopes.iter().collect();
        a.sort();
        b.sort();
        a == b
    }

    pub(crate) fn expired(&self, now: Duration) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) next_id: u64,
    pub(crate) apps: Vec<App>,
    pub(crate) grants: HashMap<String, Grant>,
    pub(crate) tokens: Vec<Token>,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Throttle key -> (window index, count).
    pub(crate) throttles: HashMap<String, (u64, u32)>,
    /// Added to the wall clock, so tests can expire codes and tokens without waiting.
    pub(crate) clock_offset: Duration,
    /// The session cookies of browsers that signed in.
    pub(crate) sessions: Vec<String>,
}

impl State {
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn app_by_client_id(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    pub(crate) fn app(&self, id: u64) -> Option<&App> {
        self.apps.iter().find(|a| a.id == id)
    }
}

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// The state, even if a handler panicked while holding the lock: tests should still see
    /// what was recorded.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Now, as the instance sees it (wall clock plus the test offset), since the epoch.
pub(crate) fn now(state: &State) -> Duration {
    clock::since_epoch(SystemTime::now()) + state.clock_offset
}

/// The IP throttle bucket: IPv6 addresses are bucketed by /64, as Mastodon does.
pub(crate) fn ip_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}
