"""Text taken in only as text: control characters in a request are refused, naming the field.

PostgreSQL refuses NUL in text and JSON columns, so a `\\u0000` that reached a statement answered 500;
other control characters (backspace, escape, form feed...) have no place in a complaint and can
garble the e-mail or SMS a customer reads. Tab, line feed and carriage return are allowed in body
text (descriptions and notes have lines); path and query parameters, which are identifiers and
filters, take none at all.

Checked for every API route of every service (the routers a service definition lists), after the
caller is authenticated (an anonymous request still gets its 401 first) and before the route
validates its body, so every field gets the same RFC 9457 validation problem (422, each field named
as `body.<path>` or `query.<name>`; the value is never echoed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from complaints_common.api import Principal, current_principal

BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
QUERY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Raw control characters are not valid JSON, so in a body they can only come escaped: a body
# without any of these byte sequences is clean, and the hot path never parses it twice.
ESCAPES = (b"\\u00", b"\\u007", b"\\b", b"\\f", b"\x7f")
MESSAGE = "Control characters (such as NUL) are not allowed here."


def _controlled(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    """The paths of the strings (keys included) under `value` that hold a control character."""
    if isinstance(value, str):
        if BODY_CONTROL.search(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if BODY_CONTROL.search(key):
                yield (*path, key)
            yield from _controlled(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _controlled(item, (*path, index))


def _body_errors(body: bytes) -> list[tuple[str | int, ...]]:
    if not any(escape in body for escape in ESCAPES):
        return []
    try:
        parsed = json.loads(body)
    except ValueError:
        return []  # not JSON: the route's own validation answers for it
    return list(_controlled(parsed, ("body",)))


async def refuse_control_characters(
    request: Request,
    _caller: Annotated[Principal, Depends(current_principal)],  # 401 before 422; cached per request
) -> None:
    """A dependency of every API router: 422 for any control character in the path, the query or
    the JSON body."""
    paths: list[tuple[str | int, ...]] = [
        ("path", name) for name, value in request.path_params.items() if QUERY_CONTROL.search(str(value))
    ]
    paths += [
        ("query", name)
        for name, value in request.query_params.multi_items()
        if QUERY_CONTROL.search(name) or QUERY_CONTROL.search(value)
    ]
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", ""):
        paths += _body_errors(await request.body())
    if paths:
        raise RequestValidationError(
            [{"loc": path, "msg": MESSAGE, "type": "control_character"} for path in dict.fromkeys(paths)]
        )
