from complaints_common.migrations import run_alembic_env

run_alembic_env()
