"""Query strings taken at their word: a parameter a route does not declare is refused, not ignored.

A typo in a filter (`?custmer_id=…`) silently ignored returns unrelated complaints, which a CRM then
shows as the customer's; refusing it names the mistake. The refusal goes through the same RFC 9457
validation problem as every other bad input (422, each unknown parameter named as `query.<name>`).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


def declared_query_parameters(dependant: Dependant) -> frozenset[str]:
    """Every query parameter of a route and of its dependencies, by the name a client sends."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= declared_query_parameters(dependency)
    return frozenset(names)


# Kept on the route itself, computed on its first request: walking the dependency tree on every
# request would be work repeated on the hot path. (Not a dict keyed by id(route): an id is reused once
# an app's routes are freed, as tests create and drop apps; Starlette routes are not hashable.)
_DECLARED = "complaints_declared_query_parameters"


async def refuse_unknown_query_parameters(request: Request) -> None:
    """A dependency for routers whose query strings are filters."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared: frozenset[str] | None = getattr(route, _DECLARED, None)
    if declared is None:
        declared = declared_query_parameters(route.dependant)
        setattr(route, _DECLARED, declared)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": "Unknown query parameter: this operation does not take it.",
                    "type": "unknown_parameter",
                }
                for name in unknown
            ]
        )
