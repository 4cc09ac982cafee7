-- OATH tokens (hardware and soft) and external-factor enrolments; seeds are sealed with the
-- key-encryption key, PINs and activation codes are argon2id hashes.
CREATE TABLE otp_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    serial TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    factor TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    state TEXT NOT NULL,
    secret BYTEA NOT NULL,
    algorithm TEXT NOT NULL,
    digits INTEGER NOT NULL,
    period INTEGER NOT NULL,
    pin_hash TEXT,
    drift INTEGER NOT NULL DEFAULT 0,
    last_step BIGINT,
    failures INTEGER NOT NULL DEFAULT 0,
    next_code_mode BOOLEAN NOT NULL DEFAULT FALSE,
    activation_hash TEXT,
    activation_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP
);
CREATE INDEX otp_tokens_user ON otp_tokens(user_id);

CREATE TABLE meta (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

ALTER TABLE users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TIMESTAMP;
ALTER TABLE clients ADD COLUMN mfa_required BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE journeys ADD COLUMN password_ok BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE journeys ADD COLUMN claimed_username TEXT;
ALTER TABLE journeys ADD COLUMN factor_state TEXT;
ALTER TABLE journeys ADD COLUMN acr TEXT;
ALTER TABLE journeys ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
