-- A portal task started from a sign-in page returns to that sign-in when done.
ALTER TABLE journeys ADD COLUMN return_to TEXT;
