"""Migrations run as the migrator role; the services' runtime role reads and writes rows but can
create nothing (no table, no schema, no temporary table)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest
from pydantic import SecretStr
from sqlalchemy import make_url

from complaints_common.db import asyncpg_dsn
from complaints_common.runtime import run_migrations
from complaints_followup.main import SERVICE
from complaints_followup.settings import FollowupSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def roles(empty_database_url: str) -> AsyncIterator[tuple[str, str]]:
    """A migrator that may create schemas in the test database, and a runtime role that may only
    connect (as deploy/compose/postgres-init.sql sets them up)."""
    suffix = uuid4().hex[:8]
    migrator, runtime = f"migrator_{suffix}", f"runtime_{suffix}"
    database = make_url(empty_database_url).database
    admin = await asyncpg.connect(asyncpg_dsn(empty_database_url))
    try:
        await admin.execute(
            f'CREATE ROLE "{migrator}" LOGIN; CREATE ROLE "{runtime}" LOGIN;'
            f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC;'
            f'GRANT CONNECT, CREATE ON DATABASE "{database}" TO "{migrator}";'
            f'GRANT CONNECT ON DATABASE "{database}" TO "{runtime}";'
        )
        yield migrator, runtime
    finally:
        await admin.execute(
            f'DROP SCHEMA IF EXISTS "{SERVICE.metadata.schema}" CASCADE;'
            f'DROP OWNED BY "{migrator}", "{runtime}"; DROP ROLE "{migrator}"; DROP ROLE "{runtime}"'
        )
        await admin.close()


async def test_the_runtime_role_uses_rows_and_creates_nothing(
    empty_database_url: str, roles: tuple[str, str]
) -> None:
    migrator, runtime = roles
    url = make_url(empty_database_url)
    as_migrator = url.set(username=migrator).render_as_string(hide_password=False)
    as_runtime = url.set(username=runtime).render_as_string(hide_password=False)
    settings = FollowupSettings(
        database_url=SecretStr(as_runtime), migration_database_url=SecretStr(as_migrator)
    )
    await asyncio.to_thread(run_migrations, SERVICE, settings)

    schema = SERVICE.metadata.schema
    conn = await asyncpg.connect(asyncpg_dsn(as_runtime))
    try:
        owner = await conn.fetchval(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", schema
        )
        assert owner == migrator
        for table in SERVICE.metadata.tables.values():
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                assert await conn.fetchval(
                    "SELECT has_table_privilege($1, $2)", f'"{schema}"."{table.name}"', privilege
                ), f"the runtime role lacks {privilege} on {table.name}"
        assert await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox') == 0
        for ddl in (
            f'CREATE TABLE "{schema}".intruder (v int)',
            "CREATE SCHEMA intruder",
            f'ALTER TABLE "{schema}".outbox ADD COLUMN intruder int',
            f'DROP TABLE "{schema}".inbox',
            "CREATE TEMPORARY TABLE intruder (v int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(ddl)
    finally:
        await conn.close()
