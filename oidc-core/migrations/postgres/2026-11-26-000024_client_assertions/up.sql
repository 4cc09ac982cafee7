-- JWT client authentication (RFC 7523 §3, OIDC Core §9): the jti of every accepted client
-- assertion, kept until the assertion expires. The primary key is the claim: of two requests
-- with one assertion (on any replica), exactly one insert succeeds.
CREATE TABLE client_assertions (
    -- SHA-256 of client_id NUL jti (the jti is the client's choice: bounded size, no echo).
    jti_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX client_assertions_expiry ON client_assertions(expires_at);
