-- Failure counters for throttling, keyed by what they count: "acct:{user_id}:{address}",
-- "addr:{address}", "acct:{user_id}". Updated with single conditional statements only.
CREATE TABLE throttles (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

-- The first-time activation portal asks for the passcode before the password: it is held here
-- (seconds) until the password is checked, so that nothing is verified before the password.
ALTER TABLE journeys ADD COLUMN held_passcode TEXT;
ALTER TABLE journeys ADD COLUMN portal BOOLEAN NOT NULL DEFAULT FALSE;
