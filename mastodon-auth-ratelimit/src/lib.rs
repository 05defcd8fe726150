//! mastodon-auth-ratelimit (being built).
