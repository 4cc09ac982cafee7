-- OpenID Connect Back-Channel Logout 1.0: the outbox of logout tokens to deliver. Rows are
-- written in the transaction that ends the session(s); a background task on any replica claims
-- a due row (a conditional update of next_attempt_at, which doubles as a lease), posts a freshly
-- signed logout token, and records the outcome.
CREATE TABLE backchannel_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- The sid of the ended session (NULL: a grant that outlived its session, logged out by sub).
    session_id TEXT,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    -- Set when delivered or given up ('delivered' or 'gave_up'); purged a day later.
    done_at TIMESTAMP,
    outcome TEXT
);
CREATE INDEX backchannel_deliveries_due ON backchannel_deliveries(done_at, next_attempt_at);
CREATE INDEX grants_session ON grants(session_id);
