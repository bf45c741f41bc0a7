"""The Alembic environment every service's migrations share.

Each service's `migrations/env.py` calls `run_alembic_env()`. The version table lives in the
service's schema, and an advisory lock makes concurrent `migrate` runs (several pods) wait for each
other instead of racing.

Migrations run as the migrator role, which owns the schema; the services run as a runtime role that
may read and write rows but create nothing. After every upgrade the migrator grants the runtime role
exactly that on what the schema holds (`runtime_grants`), so a new table is usable at once.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from complaints_common.db import connect_options
from complaints_common.settings import ServiceSettings


def run_alembic_env() -> None:
    config = context.config
    url: str = config.attributes["database_url"]
    metadata: MetaData = config.attributes["metadata"]
    assert metadata.schema, "every service migrates its own schema"
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadata,
            version_table_schema=metadata.schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    runtime_role: str | None = config.attributes.get("runtime_role")
    asyncio.run(_run_online(url, metadata, config.attributes.get("settings"), runtime_role))


def runtime_grants(schema: str, role: str) -> list[str]:
    """What the runtime role may do in the service's schema: use it, and read and write rows and
    sequences; no CREATE, so it cannot add, alter or drop objects (it owns none)."""
    return [
        f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
        f'REVOKE CREATE ON SCHEMA "{schema}" FROM "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"',
        f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
    ]


async def _run_online(
    url: str, metadata: MetaData, settings: ServiceSettings | None, runtime_role: str | None
) -> None:
    schema = metadata.schema
    assert schema is not None
    # The services' TLS, without their statement timeouts: a migration may rightly run long.
    options = connect_options(url, settings, timeouts=False)
    engine = create_async_engine(
        options.engine_url, connect_args=options.connect_args, poolclass=NullPool, hide_parameters=True
    )
    try:
        async with engine.connect() as conn:
            # Session-level lock: held across the commit below until the connection closes.
            await conn.execute(text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": f"migrate:{schema}"})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            # Commit the schema before Alembic's own transaction, or it is silently rolled back.
            await conn.commit()
            await conn.run_sync(_run_sync, metadata)
            await conn.commit()
            if runtime_role is not None:
                for grant in runtime_grants(schema, runtime_role):
                    await conn.execute(text(grant))
                await conn.commit()
    finally:
        await engine.dispose()


def _run_sync(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=metadata.schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == metadata.schema,
    )
    with context.begin_transaction():
        context.run_migrations()
