DROP TABLE logout_tokens;
DROP INDEX sessions_by_subject;
DROP INDEX sessions_by_sid;
ALTER TABLE sessions DROP COLUMN sid;
