-- Consent (OIDC Core §3.1.2.4): what a person allowed a third-party client, remembered per person
-- and client until they revoke it at the portal. Scopes and individually requested claims
-- (the claims parameter, §5.5) are space-separated names.
CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    claims TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Until now no client saw a consent page: every existing client keeps behaving as first-party.
-- (SQLite cannot change a column default without rebuilding the table; every insert names it.)
UPDATE clients SET first_party = 1;

-- The claims parameter of the request (JSON), for the ID token and userinfo of this grant.
ALTER TABLE grants ADD COLUMN claims TEXT;

-- A journey run for a browser that already has a session (consent, account selection) answers
-- with that session instead of starting one; `consented` records the decision of this journey.
ALTER TABLE journeys ADD COLUMN session_id TEXT;
ALTER TABLE journeys ADD COLUMN consented BOOLEAN NOT NULL DEFAULT 0;
