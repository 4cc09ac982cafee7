DROP TABLE audit_log;
DROP TABLE password_history;
ALTER TABLE users DROP COLUMN password_temporary;
ALTER TABLE users DROP COLUMN password_expires_at;
ALTER TABLE users DROP COLUMN secret_word_hash;
ALTER TABLE users DROP COLUMN recovery_answers;
