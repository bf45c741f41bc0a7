-- Two login roles per service: `<svc>_migrator` owns the schema named after the service and runs
-- `migrate` (<SVC>_MIGRATION_DATABASE_URL); `<svc>` is the runtime role of the API and worker
-- (<SVC>_DATABASE_URL), granted row access only by each migration run
-- (complaints_common.migrations.runtime_grants): it can create no table, schema or temporary table.
-- Development-only passwords; production roles and passwords come from your secret store.
-- CREATE on the database is needed because `migrate` runs CREATE SCHEMA IF NOT EXISTS, which
-- PostgreSQL checks against the database privilege even when the schema already exists.
CREATE ROLE intake LOGIN PASSWORD 'dev-only-intake';
CREATE ROLE compensation LOGIN PASSWORD 'dev-only-compensation';
CREATE ROLE followup LOGIN PASSWORD 'dev-only-followup';
CREATE ROLE notifications LOGIN PASSWORD 'dev-only-notifications';
CREATE ROLE intake_migrator LOGIN PASSWORD 'dev-only-intake-migrator';
CREATE ROLE compensation_migrator LOGIN PASSWORD 'dev-only-compensation-migrator';
CREATE ROLE followup_migrator LOGIN PASSWORD 'dev-only-followup-migrator';
CREATE ROLE notifications_migrator LOGIN PASSWORD 'dev-only-notifications-migrator';

-- No temporary tables or anything else for roles not named here.
REVOKE ALL ON DATABASE complaints FROM PUBLIC;
GRANT CONNECT ON DATABASE complaints TO intake, compensation, followup, notifications;
GRANT CONNECT, CREATE ON DATABASE complaints
  TO intake_migrator, compensation_migrator, followup_migrator, notifications_migrator;

-- Create the schemas up front, owned by their migrator, so that no service can take another's name.
CREATE SCHEMA intake AUTHORIZATION intake_migrator;
CREATE SCHEMA compensation AUTHORIZATION compensation_migrator;
CREATE SCHEMA followup AUTHORIZATION followup_migrator;
CREATE SCHEMA notifications AUTHORIZATION notifications_migrator;

-- Nothing in public for anyone.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
