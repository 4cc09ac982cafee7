-- CPAR Panel Administrator User Registration forms (URF): entered or reviewed by an Access
-- Administrator, approved by another one (never by the one who submitted it), or rejected with a
-- reason.
CREATE TABLE registrations (
    id TEXT PRIMARY KEY NOT NULL,
    legal_name TEXT NOT NULL,
    email TEXT NOT NULL,
    clinic TEXT NOT NULL,
    practitioner_id TEXT NOT NULL,
    role_requested TEXT NOT NULL,
    username TEXT,
    status TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    decided_by TEXT,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP
);
