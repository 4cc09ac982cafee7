ALTER TABLE users DROP COLUMN emergency_hash;
ALTER TABLE users DROP COLUMN emergency_expires_at;
ALTER TABLE users DROP COLUMN caller_code_hash;
ALTER TABLE users DROP COLUMN caller_code_expires_at;
ALTER TABLE users DROP COLUMN caller_verified_by;
ALTER TABLE users DROP COLUMN caller_verified_at;
