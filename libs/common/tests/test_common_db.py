"""One transaction per unit of work: what the driver's statements share with it, what runs after
commit, and what an error may say; and statements that commit by themselves (`autocommit`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from complaints_common.db import Database, after_commit, asyncpg_dsn, driver
from complaints_common.errors import is_transient

pytestmark = pytest.mark.integration

SECRET_EMAIL = "octavia.pennywhistle+db@example.invalid"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=2)
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE notes (body text NOT NULL)"))
    yield database
    await database.dispose()


async def notes(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list((await session.execute(text("SELECT body FROM notes ORDER BY body"))).scalars())


async def terminate(database_url: str, pid: int) -> None:
    """End a server session, as a database restart or an operator would."""
    killer = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()


async def test_a_statement_sent_to_the_driver_first_rolls_back_with_the_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await (await driver(session)).execute("INSERT INTO notes VALUES ('by the driver')")
            await session.execute(text("INSERT INTO notes VALUES ('by sqlalchemy')"))
            raise RuntimeError("the handler failed")
    assert await notes(db) == []


async def test_driver_and_sqlalchemy_statements_commit_together(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO notes VALUES ('by sqlalchemy')"))
        await (await driver(session)).execute("INSERT INTO notes VALUES ('by the driver')")
    assert await notes(db) == ["by sqlalchemy", "by the driver"]


async def test_after_commit_actions_run_only_after_a_commit(db: Database) -> None:
    ran: list[str] = []
    async with db.transaction() as session:
        after_commit(session, lambda: ran.append("committed"))
        assert ran == [], "not before the commit"
    assert ran == ["committed"]

    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            after_commit(session, lambda: ran.append("rolled back"))
            raise RuntimeError("rolled back")
    async with db.transaction():
        pass  # the same pooled connection: nothing left over from the rolled-back transaction
    assert ran == ["committed"]


async def test_a_database_error_does_not_quote_the_statement_values(db: Database) -> None:
    with pytest.raises(DBAPIError) as raised:
        async with db.transaction() as session:
            await session.execute(text("SELECT CAST(:email AS text), 1 / 0"), {"email": SECRET_EMAIL})
    assert SECRET_EMAIL not in str(raised.value)


async def test_a_connection_the_database_dropped_fails_as_a_transient_error_then_is_replaced(
    db: Database, database_url: str
) -> None:
    async with db.transaction() as session:
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    await terminate(database_url, pid)

    with pytest.raises(Exception) as raised:
        async with db.transaction() as session:
            await (await driver(session)).execute("INSERT INTO notes VALUES ('on a dead connection')")
    assert is_transient(raised.value), f"{type(raised.value).__name__} would dead-letter a good message"

    async with db.transaction() as session:
        await (await driver(session)).execute("INSERT INTO notes VALUES ('on a new connection')")
    assert await notes(db) == ["on a new connection"]


async def test_autocommit_statements_commit_each_by_itself(db: Database) -> None:
    async with db.autocommit() as connection:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        await connection.execute("INSERT INTO notes VALUES ('committed at once')")
        assert await notes(db) == ["committed at once"], "seen from another connection, no COMMIT sent"
        with pytest.raises(asyncpg.NotNullViolationError):
            await connection.execute(
                "WITH more AS (INSERT INTO notes VALUES ('undone')) INSERT INTO notes VALUES (NULL)"
            )
    assert await notes(db) == ["committed at once"], "a failed statement is undone whole"
    async with db.autocommit() as connection:
        same = await connection.fetchval("SELECT pg_backend_pid()")
    assert same == pid, "a server's error keeps the connection"


async def test_an_autocommit_connection_the_database_dropped_fails_as_transient_then_is_replaced(
    db: Database, database_url: str
) -> None:
    async with db.autocommit() as connection:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
    await terminate(database_url, pid)

    with pytest.raises(Exception) as raised:
        async with db.autocommit() as connection:
            await connection.execute("INSERT INTO notes VALUES ('on a dead connection')")
    assert is_transient(raised.value), f"{type(raised.value).__name__} would dead-letter a good message"

    async with db.autocommit() as connection:
        assert await connection.fetchval("SELECT pg_backend_pid()") != pid
        await connection.execute("INSERT INTO notes VALUES ('on a new connection')")
    assert await notes(db) == ["on a new connection"]
