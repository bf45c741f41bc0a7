"""The database layer refuses to start on an asyncpg adapter whose internals it does not know."""

from __future__ import annotations

import pytest

from complaints_common.db import Database, DriverAdapterChanged, verify_driver_adapter


def test_the_pinned_sqlalchemy_adapter_has_what_the_driver_path_uses() -> None:
    verify_driver_adapter()  # raises if the pinned SQLAlchemy renamed them


class RenamedAdapter:
    __slots__ = ("_txn",)

    async def _begin(self) -> None:
        return None


def test_an_adapter_without_the_expected_internals_is_refused_loudly() -> None:
    with pytest.raises(DriverAdapterChanged, match="_transaction, _start_transaction"):
        verify_driver_adapter(RenamedAdapter)


def test_a_database_is_not_built_on_an_unknown_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    import complaints_common.db as db

    monkeypatch.setattr(db.verify_driver_adapter, "__defaults__", (RenamedAdapter,))
    with pytest.raises(DriverAdapterChanged):
        Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
