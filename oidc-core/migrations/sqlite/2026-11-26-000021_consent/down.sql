ALTER TABLE journeys DROP COLUMN consented;
ALTER TABLE journeys DROP COLUMN session_id;
ALTER TABLE grants DROP COLUMN claims;
DROP TABLE consents;
