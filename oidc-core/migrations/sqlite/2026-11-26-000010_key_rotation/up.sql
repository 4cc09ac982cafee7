-- Key rotation with pre-publication and grace: a key is published at created_at, signs from
-- activates_at (created_at + the publish delay; at once for a first key), stops signing at
-- retired_at (its successor's activates_at) and leaves JWKS a retire period after that.
ALTER TABLE signing_keys ADD COLUMN activates_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE signing_keys SET activates_at = created_at;
CREATE INDEX signing_keys_alg ON signing_keys(alg, activates_at);

-- Replicas poll this row (one primary-key read) and reload their keys when it changes.
INSERT INTO meta (name, value) VALUES ('signing_keys_version', 'initial');

-- Housekeeping deletes expired rows in batches by these columns.
CREATE INDEX auth_codes_expires ON auth_codes(expires_at);
CREATE INDEX auth_codes_grant ON auth_codes(grant_id);
CREATE INDEX sessions_expires ON sessions(expires_at);
CREATE INDEX journeys_expires ON journeys(expires_at);
CREATE INDEX grants_created ON grants(created_at);
CREATE INDEX throttles_updated ON throttles(updated_at);
