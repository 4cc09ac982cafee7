DROP INDEX throttles_updated;
DROP INDEX grants_created;
DROP INDEX journeys_expires;
DROP INDEX sessions_expires;
DROP INDEX auth_codes_grant;
DROP INDEX auth_codes_expires;
DELETE FROM meta WHERE name = 'signing_keys_version';
DROP INDEX signing_keys_alg;
ALTER TABLE signing_keys DROP COLUMN activates_at;
