"""`mypy --strict` catches a handler wired to the wrong contract (issue 16: typed subscriptions).

Each snippet is checked by mypy's own API with the project's configuration, as `make lint` does:
a handler typed for `followup.due` subscribed to `complaint.created` must be reported, and the
same handler on its own contract must pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api as mypy

ROOT = Path(__file__).resolve().parents[3]

PRELUDE = """
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import ComplaintCreatedV1, FollowupDueV1
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, FOLLOWUP_DUE_V1, Event


async def on_due(session: AsyncConnection, event: Event[FollowupDueV1]) -> None:
    print(event.data.followup_id)


async def on_created(session: AsyncConnection, event: Event[ComplaintCreatedV1]) -> None:
    print(event.data.reference)
"""

MISWIRED = (
    PRELUDE
    + """
subscriptions: list[Subscription[ComplaintCreatedV1]] = [Subscription(COMPLAINT_CREATED_V1, on_due)]
"""
)

MISWIRED_UNANNOTATED = (
    PRELUDE
    + """
wrong = Subscription(COMPLAINT_CREATED_V1, on_due)
"""
)

WIRED = (
    PRELUDE
    + """
created = Subscription(COMPLAINT_CREATED_V1, on_created)
reveal_type(created)
subscriptions: list[Subscription[Any]] = [created, Subscription(FOLLOWUP_DUE_V1, on_due)]
"""
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the module's checks: the first analyses complaints_common, the rest reuse it."""
    return tmp_path_factory.mktemp("mypy-cache")


def check(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> tuple[int, str]:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(source)
    # complaints_common has no py.typed marker: found through the path, as `mypy libs services`
    # finds it, or else every import would be Any and nothing could be caught.
    monkeypatch.setenv("MYPYPATH", str(ROOT / "libs" / "common"))
    stdout, stderr, status = mypy.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache_dir), str(snippet)]
    )
    return status, stdout + stderr


@pytest.mark.parametrize("source", [MISWIRED, MISWIRED_UNANNOTATED], ids=["annotated", "inferred"])
def test_mypy_reports_a_handler_subscribed_to_another_contract(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    status, output = check(tmp_path, cache_dir, monkeypatch, source)
    assert status == 1, output
    wiring = next(n for n, line in enumerate(source.splitlines(), 1) if "on_due)" in line)
    assert f'snippet.py:{wiring}: error: Argument 2 to "Subscription" has incompatible type' in output, output
    assert "Event[FollowupDueV1]" in output and "Event[ComplaintCreatedV1]" in output, output


def test_mypy_passes_handlers_on_their_own_contracts(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, output = check(tmp_path, cache_dir, monkeypatch, WIRED)
    assert status == 0, output
    # Proof that the types were seen, not taken for Any: the subscription is typed by its contract.
    assert "Subscription[complaints_common.events.contracts.ComplaintCreatedV1]" in output, output
