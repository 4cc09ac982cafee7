-- What an account still owes before any sign-in may finish (space-separated names:
-- change_password, enrol_recovery). Written in the transaction that creates the debt (a
-- temporary password, a recovery reset) and cleared in the one that pays it, so that a person
-- who closes the browser halfway is asked again at the next sign-in, whatever the entry point.
ALTER TABLE users ADD COLUMN required_actions TEXT NOT NULL DEFAULT '';
UPDATE users SET required_actions = 'change_password enrol_recovery'
 WHERE password_temporary
   AND (secret_word_hash IS NULL OR recovery_answers IS NULL OR recovery_answers = '[]');
UPDATE users SET required_actions = 'change_password'
 WHERE password_temporary AND required_actions = '';
UPDATE users SET required_actions = 'enrol_recovery'
 WHERE NOT password_temporary AND recovery_answers = '[]';
-- A grant with offline_access outlives the browser session it came from (OIDC Core §11); any
-- other grant of a session ends with it.
ALTER TABLE grants ADD COLUMN offline BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE grants SET offline = TRUE WHERE (' ' || scope || ' ') LIKE '% offline_access %';
