DROP INDEX grants_client;
