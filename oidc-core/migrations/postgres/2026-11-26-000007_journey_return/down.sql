ALTER TABLE journeys DROP COLUMN return_to;
