DROP TABLE patients;
DROP TABLE panels;
DROP TABLE logout_states;
DROP TABLE sessions;
DROP TABLE login_attempts;
