DROP INDEX grants_session;
DROP TABLE backchannel_deliveries;
