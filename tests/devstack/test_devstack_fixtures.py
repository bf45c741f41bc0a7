"""The conftest fixtures hand out working, isolated URLs."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from complaints_common.events.topics import all_topics_with_dead_letters
from complaints_devstack.broker import topic_partitions as partition_counts
from complaints_devstack.launcher import SERVICE_ORDER

pytestmark = pytest.mark.integration

seen_databases: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_gets_a_fresh_database_with_every_service_migrated(
    database_url: str, run: int
) -> None:
    assert database_url.startswith("postgresql+asyncpg://")
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            name = (await conn.execute(text("SELECT current_database()"))).scalar_one()
            tables = (
                await conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
            ).scalar_one()
            migrated = set(
                (
                    await conn.execute(
                        text("SELECT schemaname FROM pg_tables WHERE tablename = 'alembic_version'")
                    )
                ).scalars()
            )
            await conn.execute(text("CREATE TABLE mine (v int)"))
    finally:
        await engine.dispose()
    assert name.startswith("t_")
    assert tables == 0, "another test's tables leaked into this database"
    assert migrated == set(SERVICE_ORDER), "every service's schema comes migrated from the template"
    assert name not in seen_databases
    seen_databases.append(name)


async def test_the_maintenance_url_works(pg_server_url: str) -> None:
    engine = create_async_engine(pg_server_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_topics_fixture_creates_prefixed_topics(kafka_bootstrap: str, topics: str) -> None:
    assert topics.startswith("t") and topics.endswith(".")
    specs = all_topics_with_dead_letters()
    counts = await partition_counts(kafka_bootstrap, [topics + s.name for s in specs])
    assert counts == {topics + s.name: s.partitions for s in specs}
