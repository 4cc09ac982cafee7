-- Client-credentials tokens reuse their client's newest grant (tokens::client_grant).
CREATE INDEX grants_client ON grants(client_id, created_at);
