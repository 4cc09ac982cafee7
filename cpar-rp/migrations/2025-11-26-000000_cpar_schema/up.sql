-- CPAR's own database (SQLite). Times are Unix microseconds (UTC).

-- A sign-in in progress: the state, nonce and PKCE verifier of one authorization request, bound to
-- the browser that started it. Claimed once, by a DELETE ... RETURNING.
CREATE TABLE login_attempts (
    state_digest TEXT PRIMARY KEY NOT NULL,
    browser_digest TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    prompt_login BOOLEAN NOT NULL,
    notice TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX login_attempts_by_age ON login_attempts (created_at);

-- A signed-in browser. The cookie holds the id; this table its SHA-256. An ended session keeps
-- its row (and ID token, for the logout hint) until it is purged.
CREATE TABLE sessions (
    id_digest TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    roles TEXT NOT NULL,
    id_token TEXT NOT NULL,
    csrf TEXT NOT NULL,
    notice TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_reason TEXT
);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);

-- The state of a sign-out sent to AHS IAM, checked when the browser comes back.
CREATE TABLE logout_states (
    state_digest TEXT PRIMARY KEY NOT NULL,
    browser_digest TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Patient panels and the Panel Administrator (AHS Network ID) who manages each.
CREATE TABLE panels (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    clinic TEXT NOT NULL,
    administrator TEXT NOT NULL
);
CREATE INDEX panels_by_administrator ON panels (administrator);

CREATE TABLE patients (
    id TEXT PRIMARY KEY NOT NULL,
    panel_id TEXT NOT NULL REFERENCES panels (id) ON DELETE CASCADE,
    family_name TEXT NOT NULL,
    given_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    phn TEXT NOT NULL,
    attached_on TEXT NOT NULL
);
CREATE INDEX patients_by_panel ON patients (panel_id);
