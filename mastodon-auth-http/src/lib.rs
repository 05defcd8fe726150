//! mastodon-auth-http (being built).
