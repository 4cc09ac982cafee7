DROP TABLE auth_codes; DROP TABLE grants; DROP TABLE journeys; DROP TABLE sessions; DROP TABLE signing_keys; DROP TABLE clients; DROP TABLE users;
