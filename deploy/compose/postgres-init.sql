-- One login role per service, each owning the schema named after it (created by its migrations).
-- Development-only passwords; production roles and passwords come from your secret store.
-- CREATE on the database is needed because `migrate` runs CREATE SCHEMA IF NOT EXISTS, which
-- PostgreSQL checks against the database privilege even when the schema already exists.
CREATE ROLE intake LOGIN PASSWORD 'dev-only-intake';
CREATE ROLE compensation LOGIN PASSWORD 'dev-only-compensation';
CREATE ROLE followup LOGIN PASSWORD 'dev-only-followup';
CREATE ROLE notifications LOGIN PASSWORD 'dev-only-notifications';

GRANT CONNECT, CREATE ON DATABASE complaints TO intake, compensation, followup, notifications;

-- Create the schemas up front, owned by their service, so that no service can take another's name.
CREATE SCHEMA intake AUTHORIZATION intake;
CREATE SCHEMA compensation AUTHORIZATION compensation;
CREATE SCHEMA followup AUTHORIZATION followup;
CREATE SCHEMA notifications AUTHORIZATION notifications;

-- Nothing in public for anyone.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
