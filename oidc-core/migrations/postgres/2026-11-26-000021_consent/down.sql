ALTER TABLE journeys DROP COLUMN consented;
ALTER TABLE journeys DROP COLUMN session_id;
ALTER TABLE grants DROP COLUMN claims;
ALTER TABLE clients ALTER COLUMN first_party DROP DEFAULT;
DROP TABLE consents;
