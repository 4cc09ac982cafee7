-- Tamper-evident audit log: each entry's MAC covers the entry and the previous entry's MAC; the
-- chain head lives in meta('audit_head') and is advanced with a compare-and-swap.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL UNIQUE,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    subject TEXT,
    detail TEXT NOT NULL,
    prev_mac TEXT NOT NULL,
    mac TEXT NOT NULL
);

-- The last passwords of each account (argon2id hashes), for the history rule.
CREATE TABLE password_history (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX password_history_user ON password_history(user_id);

-- A temporary password may only be used to set a new one, until it expires.
ALTER TABLE users ADD COLUMN password_temporary BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN password_expires_at TIMESTAMP;
-- Recovery data: the secret word and the five answers, argon2id of their normalised form.
ALTER TABLE users ADD COLUMN secret_word_hash TEXT;
ALTER TABLE users ADD COLUMN recovery_answers TEXT;
