"""Control characters sent to every operation of every service: 422 naming the field, never a 500.

For each operation in a service's OpenAPI: a NUL (and an escape character) in a query parameter the
operation declares, and in a string field of a JSON body built from the operation's own schema
(schemathesis' first valid request, with one string replaced). PostgreSQL refuses NUL in text, so
before the check these requests answered 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from schemathesis import GenerationMode

from complaints_common.runtime import Mode
from complaints_common.text_input import _controlled
from complaints_devstack.openapi_cases import draw_cases

from .test_fuzz_openapi import BASE_URL, SERVICES, operations, running

pytestmark = pytest.mark.integration

POISONS = ["before\x00after", "esc\x1b[31m"]


def first_valid_case(operation: Any) -> Any | None:
    try:
        cases = draw_cases(operation, GenerationMode.POSITIVE, 1)
    except Exception:  # no valid request can be drawn (e.g. an unsatisfiable schema)
        return None
    return cases[0] if cases else None


async def valid_requests(app: Any) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """Every /v1 operation of the app with one valid request drawn from its schema, as keyword
    arguments for the test client (which sends the client's own all-scopes key, not the one
    schemathesis drew from the scheme)."""
    for operation in operations(app):
        if not operation.path.startswith("/v1/"):
            continue
        case = await asyncio.to_thread(first_valid_case, operation)
        if case is None:
            continue
        kwargs = case.as_transport_kwargs(base_url=BASE_URL)
        kwargs.pop("cookies", None)
        kwargs["headers"] = {
            k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "x-api-key"
        }
        yield operation, kwargs


def first_string_path(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    if isinstance(value, str):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found = first_string_path(item, (*path, key))
        if found is not None:
            return found
    return None


def replaced(value: Any, path: tuple[str | int, ...], new: Any) -> Any:
    """A copy of `value` with `new` at `path`."""
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return copy


@pytest.mark.parametrize("service", list(SERVICES))
async def test_control_characters_are_refused_naming_the_field(
    service: str, database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    checked: list[str] = []
    async with running(service, database_url, kafka_bootstrap, topics, Mode.API) as (app, client):
        async for operation, kwargs in valid_requests(app):
            query_names = [p.name for p in operation.query]
            body = kwargs.get("json")
            body_path = first_string_path(body) if body is not None else None
            for poison in POISONS:
                if query_names:
                    params = {**(kwargs.get("params") or {}), query_names[0]: poison}
                    response = await client.request(**{**kwargs, "params": params})
                    assert response.status_code == 422, (operation.label, "query", response.text)
                    assert f"query.{query_names[0]}" in [e["field"] for e in response.json()["errors"]]
                    checked.append(f"{operation.label} ?{query_names[0]}")
                if body_path is not None:
                    poisoned = replaced(body, body_path, poison)
                    response = await client.request(**{**kwargs, "json": poisoned})
                    field = ".".join(str(p) for p in ("body", *body_path))
                    assert response.status_code == 422, (operation.label, field, response.text)
                    assert field in [e["field"] for e in response.json()["errors"]], response.text
                    assert poison not in response.text  # the value is never echoed
                    checked.append(f"{operation.label} {field}")
    assert checked, f"{service}: no operation takes a query parameter or a JSON body with text"


def test_every_control_character_is_found_with_its_path() -> None:
    body = {"customer": {"name": "Ana\x00", "tags": ["ok", "bad\x07"]}, "note\x1f": "x", "text": "a\nb\tc\r"}
    assert list(_controlled(body, ("body",))) == [
        ("body", "customer", "name"),
        ("body", "customer", "tags", 1),
        ("body", "note\x1f"),
    ]
