"""Every Kafka client and every PostgreSQL connection of the services is made in one place, so
none can miss the TLS, credentials and timeouts (complaints_common.kafka, complaints_common.db)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = (ROOT / "libs" / "common" / "complaints_common", *(ROOT / "services").glob("*/complaints_*"))
SOURCES = sorted(
    path for folder in PACKAGES for path in folder.rglob("*.py") if "migrations" not in path.parts
)
MADE_ONLY_IN: dict[str, tuple[str, ...]] = {
    r"\bAIOKafka(Producer|Consumer|AdminClient)\(": ("complaints_common/kafka.py",),
    r"\basyncpg\.(connect|create_pool)\(": ("complaints_common/db.py",),
    r"\bcreate_async_engine\(": ("complaints_common/db.py", "complaints_common/migrations.py"),
}


@pytest.mark.parametrize("pattern", list(MADE_ONLY_IN))
def test_clients_and_connections_are_made_in_one_place(pattern: str) -> None:
    assert SOURCES, "no sources found"
    allowed = MADE_ONLY_IN[pattern]
    offenders = [
        str(path.relative_to(ROOT))
        for path in SOURCES
        if re.search(pattern, path.read_text(encoding="utf-8"))
        and not any(path.as_posix().endswith(name) for name in allowed)
    ]
    assert not offenders, f"{pattern} outside {allowed}: {offenders}"
