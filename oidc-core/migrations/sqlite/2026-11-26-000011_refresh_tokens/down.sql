ALTER TABLE clients DROP COLUMN refresh_policy;
ALTER TABLE clients DROP COLUMN scope;
ALTER TABLE clients DROP COLUMN grant_types;
DROP TABLE refresh_tokens;
