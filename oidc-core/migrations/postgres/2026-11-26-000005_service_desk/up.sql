-- The service desk: an emergency passcode (instead of a lost token, for some hours) and the
-- verification of a caller (one-time code to the registered email, and who verified when).
ALTER TABLE users ADD COLUMN emergency_hash TEXT;
ALTER TABLE users ADD COLUMN emergency_expires_at TIMESTAMP;
ALTER TABLE users ADD COLUMN caller_code_hash TEXT;
ALTER TABLE users ADD COLUMN caller_code_expires_at TIMESTAMP;
ALTER TABLE users ADD COLUMN caller_verified_by TEXT;
ALTER TABLE users ADD COLUMN caller_verified_at TIMESTAMP;
