"""Every input class the documentation promises, sent to every operation of every service: each
out-of-type value is refused with a 422 naming the field, never a 500, never accepted.

For each /v1 operation: a valid request (the documented example body when there is one, else
schemathesis' first valid request), then the same request with one value replaced by a value of a
refused class wherever the body or the query takes that kind of value:

- money: a JSON float or an exponent as the amount, `ZZZ` as the currency;
- languages: `zz`;
- times: without a zone, and decades ahead;
- contact: SMS preferred with no phone;
- text: a blank description;
- an unknown field in every body object.

A GET of a resource by an id nobody has answers 404 (not `200 []`). Every model a route takes as
its body, and every model inside it, refuses unknown fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from complaints_common.openapi import api_routes
from complaints_common.runtime import Mode

from .test_fuzz_control_characters import replaced, valid_requests
from .test_fuzz_openapi import SERVICES, running

pytestmark = pytest.mark.integration

Path = tuple[str | int, ...]
FAR_AHEAD = "2090-01-01T00:00:00Z"


def body_models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, nested ones included."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from body_models(field.annotation)
    for argument in get_args(annotation):
        yield from body_models(argument)


def lax_body_models(app: Any) -> set[str]:
    """The models a route takes as its body (or inside it) that accept unknown fields."""
    return {
        model.__name__
        for route in api_routes(app)
        if route.body_field is not None
        for model in body_models(route.body_field.field_info.annotation)
        if model.model_config.get("extra") != "forbid"
    }


def poisons(body: Any, path: Path = ()) -> Iterator[tuple[str, Path, Any]]:
    """(class, path, replacement) for every place in a valid body where a refused value fits; a
    replacement of None at a path removes the value there."""
    if isinstance(body, dict):
        yield "unknown field", (*path, "unexpected_field"), "x"
        if {"amount", "currency"} <= body.keys():
            yield "float amount", (*path, "amount"), 12.5
            yield "exponent amount", (*path, "amount"), "1e3"
            yield "unsupported currency", (*path, "currency"), "ZZZ"
        if "preferred_channel" in body and "customer_id" in body:
            yield "sms without a phone", path, {**body, "preferred_channel": "sms", "phone": None}
        for key, value in body.items():
            if key == "language" and isinstance(value, str):
                yield "unknown language", (*path, key), "zz"
            elif key == "description" and isinstance(value, str) and "customer" in body:
                yield "blank description", (*path, key), "   "
            elif isinstance(value, str) and is_time(value):
                yield "time without a zone", (*path, key), value[:19]
                yield "time decades ahead", (*path, key), FAR_AHEAD
            else:
                yield from poisons(value, (*path, key))
    elif isinstance(body, list):
        for index, item in enumerate(body):
            yield from poisons(item, (*path, index))


def is_time(value: str) -> bool:
    return len(value) >= 20 and value[4] == "-" and value[10] == "T"


def documented_example(schema: dict[str, Any], operation: Any) -> Any | None:
    """The operation's documented request example, the fullest valid body there is."""
    raw = operation.definition.raw.get("requestBody", {}).get("content", {}).get("application/json", {})
    body_schema = raw.get("schema", {})
    ref = body_schema.get("$ref", "")
    if ref:
        body_schema = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    examples = body_schema.get("examples") or ([raw["example"]] if "example" in raw else [])
    return examples[0] if examples else None


@pytest.mark.parametrize("service", list(SERVICES))
async def test_every_refused_input_class_gets_a_422_from_every_operation(
    service: str, database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    accepted: list[str] = []
    checked: list[str] = []
    async with running(service, database_url, kafka_bootstrap, topics, Mode.API) as (app, client):
        assert not lax_body_models(app), "request models that accept unknown fields"
        schema = app.openapi()
        async for operation, kwargs in valid_requests(app):
            if operation.method.upper() == "GET" and "{" in operation.path:
                await unknown_resource_is_404(client, operation, kwargs, accepted, checked)
            body = kwargs.get("json")
            if body is not None:
                example = documented_example(schema, operation)
                body = example if example is not None else body
                base = await client.request(**{**kwargs, "json": body})
                assert base.status_code < 500, (operation.label, base.text)
                if base.status_code in (401, 403, 422):
                    continue  # refused already (not this caller's, or the drawn body): nothing to compare
                for kind, path, value in poisons(body):
                    response = await client.request(**{**kwargs, "json": replaced(body, path, value)})
                    label = f"{operation.label} {kind} at body.{'.'.join(map(str, path))}"
                    assert response.status_code < 500, (label, response.text)
                    if response.status_code != 422:
                        accepted.append(f"{label} -> {response.status_code}")
                    checked.append(label)
            for name in time_query_parameters(operation):
                for kind, value in (
                    ("without a zone", "2026-01-01T00:00:00"),
                    ("decades ahead", "2300-01-01T00:00:00Z"),
                ):
                    params = {**(kwargs.get("params") or {}), name: value}
                    response = await client.request(**{**kwargs, "params": params})
                    label = f"{operation.label} time {kind} at query.{name}"
                    assert response.status_code < 500, (label, response.text)
                    if response.status_code != 422:
                        accepted.append(f"{label} -> {response.status_code}")
                    checked.append(label)
    print(f"{service}: {len(checked)} refused values sent")
    assert checked, f"{service}: no operation takes a value of a checked class"
    assert not accepted, f"{service} accepted out-of-type values:\n" + "\n".join(accepted)


async def unknown_resource_is_404(
    client: Any, operation: Any, kwargs: dict[str, Any], accepted: list[str], checked: list[str]
) -> None:
    """The drawn ids are random: nobody has them."""
    if not any(p.definition.get("schema", {}).get("format") == "uuid" for p in operation.path_parameters):
        return
    response = await client.request(**kwargs)
    label = f"{operation.label} unknown id"
    checked.append(label)
    if response.status_code != 404:
        accepted.append(f"{label} -> {response.status_code}")


def time_query_parameters(operation: Any) -> list[str]:
    found = []
    for parameter in operation.query:
        schema = parameter.definition.get("schema", {})
        options = [schema, *schema.get("anyOf", [])]
        if any(option.get("format") == "date-time" for option in options):
            found.append(parameter.name)
    return found
