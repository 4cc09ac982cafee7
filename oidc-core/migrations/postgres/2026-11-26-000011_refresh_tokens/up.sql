-- Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): opaque, stored as SHA-256 digests, rotated on
-- every use. A family is a grant: reuse of a rotated token after the grace period revokes the
-- grant, and with it every token the family issued.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT,
    created_at TIMESTAMP NOT NULL,
    idle_expires_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);

-- What a client may do (RFC 7591 grant_types and scope), and when it gets refresh tokens:
-- 'never', 'offline_access' (when it asks for that scope) or 'always'.
ALTER TABLE clients ADD COLUMN grant_types TEXT NOT NULL DEFAULT 'authorization_code refresh_token';
ALTER TABLE clients ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN refresh_policy TEXT NOT NULL DEFAULT 'offline_access';
