-- Ids are UUID v7 text; secrets are stored only as SHA-256 digests (base64url); times are UTC.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    name TEXT,
    password_hash TEXT,
    roles TEXT NOT NULL DEFAULT '',
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT,
    is_public BOOLEAN NOT NULL,
    first_party BOOLEAN NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '',
    pkce_required BOOLEAN NOT NULL DEFAULT 1,
    access_token_audience TEXT,
    id_token_alg TEXT,
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_key BLOB NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE journeys (
    id TEXT PRIMARY KEY NOT NULL,
    browser_hash TEXT NOT NULL,
    csrf TEXT NOT NULL,
    request TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    steps TEXT NOT NULL,
    amr TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    scope TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX grants_user ON grants(user_id);

CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
