ALTER TABLE grants DROP COLUMN offline;
ALTER TABLE users DROP COLUMN required_actions;
