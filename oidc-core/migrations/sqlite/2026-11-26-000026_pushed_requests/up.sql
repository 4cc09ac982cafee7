-- Pushed authorization requests (RFC 9126): the validated parameters of a request a client
-- pushed, until the browser brings its request_uri to the authorization endpoint. Single use:
-- the authorization endpoint claims a row with one conditional update of used_at.
CREATE TABLE pushed_requests (
    -- SHA-256 of the random part of the request_uri (the URN itself is a bearer reference).
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    -- The authorization request parameters (JSON object of strings), already resolved from a
    -- request object when one was pushed.
    params TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX pushed_requests_expiry ON pushed_requests(expires_at);
