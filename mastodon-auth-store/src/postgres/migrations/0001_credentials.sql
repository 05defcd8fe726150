-- Apps per instance, users per account, and the active account of each profile.

CREATE TABLE mastodon_auth_apps (
    instance      text PRIMARY KEY,
    client_id     text NOT NULL,
    client_secret text NOT NULL,
    name          text,
    scopes        text,
    redirect_uris text[] NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mastodon_auth_users (
    account       text PRIMARY KEY,
    instance      text NOT NULL,
    access_token  text NOT NULL,
    refresh_token text,
    expires_at    timestamptz,
    scopes        text,
    client_id     text,
    client_secret text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Several services can share one database: each names its profile and has its own active
-- account. Removing a user clears it from every profile.
CREATE TABLE mastodon_auth_active (
    profile text PRIMARY KEY,
    account text NOT NULL REFERENCES mastodon_auth_users (account) ON DELETE CASCADE
);
