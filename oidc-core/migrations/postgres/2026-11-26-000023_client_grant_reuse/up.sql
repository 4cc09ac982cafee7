-- Client-credentials tokens reuse their client's newest grant (tokens::client_grant). Partial: a
-- client's user grants (one per code flow) must not be walked to find it.
CREATE INDEX grants_client ON grants(client_id, created_at) WHERE user_id IS NULL;
