//! Server profiles: which Mastodon (or compatible) release the local instance imitates.

use mastodon_auth_core::KNOWN_SCOPES;

/// Which server release [`LocalInstance`](crate::LocalInstance) imitates.
///
/// Each profile changes only what the client can observe in the authentication layer: the
/// version strings, the OAuth metadata document, the grant types, PKCE, the shape of the app
/// registration answer and the rate-limit header format.
///
/// ```
/// use mastodon_auth_tests::Profile;
/// assert_eq!(Profile::Current.version(), "4.7.3");
/// assert_eq!(Profile::Mastodon4_3.api_version(), Some(2));
/// assert!(Profile::Pleroma.version().contains("Pleroma"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Profile {
    /// Mastodon 4.7.3: no password grant, `/oauth/userinfo`, PKCE, 47 scopes, 4.4+ app answer
    /// with `client_secret_expires_at`.
    #[default]
    Current,
    /// Mastodon 4.3.0: the password grant works (e-mail + password), the metadata document
    /// lists it and has no `userinfo_endpoint`; `/oauth/userinfo` is 404.
    Mastodon4_3,
    /// Mastodon 4.2.0: no OAuth metadata document (404), PKCE parameters are ignored, the app
    /// answer has no `scopes`/`redirect_uris`, the password grant works.
    Mastodon4_2,
    /// Pleroma 2.5.0 (`2.7.2 (compatible; Pleroma 2.5.0)`): the metadata path answers an HTML
    /// page, tokens expire and come with a `refresh_token`, the refresh and password grants work.
    Pleroma,
    /// GoToSocial 0.17.3: `X-RateLimit-Reset` is integer epoch seconds; no metadata document,
    /// PKCE ignored, no password grant.
    GoToSocial,
}

/// The generation of the `POST /api/v1/apps` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppShape {
    /// `id, name, website, redirect_uri, client_id, client_secret, vapid_key`
    Legacy,
    /// 4.3: adds `scopes`, `redirect_uris`, moves `vapid_key`.
    V4_3,
    /// 4.4+: 4.3 plus `client_secret_expires_at`.
    V4_4,
}

/// What `GET /.well-known/oauth-authorization-server` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetadataKind {
    Current,
    V4_3,
    NotFound,
    Html,
}

impl Profile {
    /// The `version` string of `/api/v1/instance` and `/api/v2/instance`.
    #[must_use]
    pub fn version(self) -> &'static str {
        match self {
            Self::Current => "4.7.3",
            Self::Mastodon4_3 => "4.3.0",
            Self::Mastodon4_2 => "4.2.0",
            Self::Pleroma => "2.7.2 (compatible; Pleroma 2.5.0)",
            Self::GoToSocial => "0.17.3",
        }
    }

    /// `api_versions.mastodon` of `/api/v2/instance`, or `None` when the field is absent.
    #[must_use]
    pub fn api_version(self) -> Option<u32> {
        match self {
            Self::Current => Some(11),
            Self::Mastodon4_3 => Some(2),
            _ => None,
        }
    }

    pub(crate) fn app_shape(self) -> AppShape {
        match self {
            Self::Current => AppShape::V4_4,
            Self::Mastodon4_3 => AppShape::V4_3,
            _ => AppShape::Legacy,
        }
    }

    pub(crate) fn metadata(self) -> MetadataKind {
        match self {
            Self::Current => MetadataKind::Current,
            Self::Mastodon4_3 => MetadataKind::V4_3,
            Self::Pleroma => MetadataKind::Html,
            Self::Mastodon4_2 | Self::GoToSocial => MetadataKind::NotFound,
        }
    }

    pub(crate) fn password_grant(self) -> bool {
        matches!(self, Self::Mastodon4_3 | Self::Mastodon4_2 | Self::Pleroma)
    }

    pub(crate) fn refresh_grant(self) -> bool {
        matches!(self, Self::Pleroma)
    }

    pub(crate) fn pkce(self) -> bool {
        matches!(self, Self::Current | Self::Mastodon4_3)
    }

    pub(crate) fn userinfo(self) -> bool {
        matches!(self, Self::Current)
    }

    /// Whether `/api/v2/instance` exists.
    pub(crate) fn instance_v2(self) -> bool {
        !matches!(self, Self::Pleroma)
    }

    /// Whether tokens are handed out again for the same app, user and scopes.
    pub(crate) fn reuses_tokens(self) -> bool {
        !matches!(self, Self::Pleroma)
    }

    /// Whether `POST /api/v1/apps` is throttled per IP (since 4.3.0).
    pub(crate) fn throttles_registrations(self) -> bool {
        matches!(self, Self::Current | Self::Mastodon4_3)
    }

    /// Whether `/api/v1/apps/verify_credentials` needs the `read` scope (before 4.3).
    pub(crate) fn app_verify_needs_read(self) -> bool {
        matches!(self, Self::Mastodon4_2)
    }

    /// Token answers carry `Pragma: no-cache` (recorded on 4.7.3, absent before 4.4).
    pub(crate) fn token_pragma(self) -> bool {
        matches!(self, Self::Current)
    }

    pub(crate) fn epoch_reset_header(self) -> bool {
        matches!(self, Self::GoToSocial)
    }

    /// The scopes the server knows, in `scopes_supported` order: current Mastodon's list
    /// (core's `KNOWN_SCOPES`), less what older releases did not have yet.
    pub(crate) fn scopes(self) -> Vec<&'static str> {
        let before_4_6 = KNOWN_SCOPES
            .iter()
            .copied()
            .filter(|s| !s.ends_with(":collections"));
        match self {
            Self::Current => KNOWN_SCOPES.to_vec(),
            // `profile` arrived in 4.3.
            Self::Mastodon4_2 => before_4_6.filter(|s| *s != "profile").collect(),
            _ => before_4_6.collect(),
        }
    }

    /// The scopes `accounts/verify_credentials` accepts.
    pub(crate) fn account_scopes(self) -> &'static [&'static str] {
        if self.scopes().contains(&"profile") {
            &["profile", "read", "read:accounts"]
        } else {
            &["read", "read:accounts"]
        }
    }

    /// Doorkeeper's wording changed in 5.9.1 (Mastodon 4.6).
    pub(crate) fn scope_mismatch_message(self) -> &'static str {
        match self {
            Self::Current => "Scopes doesn't match those configured on the server.",
            _ => "Scopes doesn't match configured on the server.",
        }
    }

    pub(crate) fn pkce_method_message(self) -> &'static str {
        match self {
            Self::Current => "The code_challenge_method must be S256.",
            _ => "The code challenge method must be S256, plain is unsupported.",
        }
    }
}
