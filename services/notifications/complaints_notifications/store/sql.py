"""Hot statements straight to the driver (`complaints_common.db.driver`), as the outbox and inbox
go: SQLAlchemy's execution path cost more CPU per statement than the statement itself (`make
profile`). Each is written once, with `:name` placeholders numbered here into asyncpg's `$1, $2...`,
so that a statement of many parts binds its values by name and cannot mix up their order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import driver

# `:name`, but not the second colon of a `::type` cast.
_PLACEHOLDER = re.compile(r"(?<!:):([a-z_]+)")


class Statement:
    """One SQL text with named placeholders, numbered once; `args` orders the values to match."""

    def __init__(self, text: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.text = _PLACEHOLDER.sub(number, " ".join(text.split()))
        self.names = tuple(names)

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[name] for name in self.names]

    async def execute(self, session: AsyncConnection, values: Mapping[str, Any]) -> None:
        await (await driver(session)).execute(self.text, *self.args(values))

    async def fetch(self, session: AsyncConnection, values: Mapping[str, Any]) -> list[asyncpg.Record]:
        return list(await (await driver(session)).fetch(self.text, *self.args(values)))


def columns(table_columns: Any, alias: str) -> str:
    """`alias.a, alias.b, ...`: every column of a table, in the order its record class lists them."""
    return ", ".join(f"{alias}.{column.name}" for column in table_columns)


def json_text(value: Any) -> str:
    """A value as the JSON text a jsonb parameter takes (SQLAlchemy's codec on the connection
    encodes jsonb from text, and decodes it to Python values)."""
    return json.dumps(value, separators=(",", ":"))
