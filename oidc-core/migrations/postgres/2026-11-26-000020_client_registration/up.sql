-- Client registration (RFC 7591, OpenID Connect Dynamic Client Registration 1.0) and its
-- management (RFC 7592): the client metadata beyond what an administrator set before, the
-- registration access token (SHA-256 digest), and the initial access tokens that gate the
-- registration endpoint.
ALTER TABLE clients ADD COLUMN application_type TEXT NOT NULL DEFAULT 'web';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';
UPDATE clients SET token_endpoint_auth_method = 'none' WHERE is_public;
-- A client_secret_jwt client's secret, sealed under the key-encryption key: the provider needs
-- the secret itself to check an HMAC, so a digest is not enough (RFC 7523, OIDC Core §9).
ALTER TABLE clients ADD COLUMN secret_sealed BYTEA;
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN logo_uri TEXT;
ALTER TABLE clients ADD COLUMN client_uri TEXT;
ALTER TABLE clients ADD COLUMN policy_uri TEXT;
ALTER TABLE clients ADD COLUMN tos_uri TEXT;
ALTER TABLE clients ADD COLUMN contacts TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
ALTER TABLE clients ADD COLUMN dynamic_registration BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE initial_access_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    single_use BOOLEAN NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX initial_access_tokens_expiry ON initial_access_tokens(expires_at);
