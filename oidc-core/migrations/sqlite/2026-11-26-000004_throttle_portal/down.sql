DROP TABLE throttles;
ALTER TABLE journeys DROP COLUMN held_passcode;
ALTER TABLE journeys DROP COLUMN portal;
