-- OpenID Connect Back-Channel Logout 1.0, receiver side: the sid of the AHS IAM session each CPAR
-- session came from (from its ID token), so that a logout token ends exactly the matching
-- sessions; and the jti of every logout token accepted, kept until it expires (a replay is
-- refused).
ALTER TABLE sessions ADD COLUMN sid TEXT;
CREATE INDEX sessions_by_sid ON sessions (sid);
CREATE INDEX sessions_by_subject ON sessions (subject);

CREATE TABLE logout_tokens (
    jti_digest TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX logout_tokens_by_expiry ON logout_tokens (expires_at);
