//! mastodon-auth-store (being built).
