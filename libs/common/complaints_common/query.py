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


# Per route, computed on its first request: routes live as long as the app, and walking the
# dependency tree on every request would be work repeated on the hot path.
_DECLARED: dict[int, frozenset[str]] = {}


async def refuse_unknown_query_parameters(request: Request) -> None:
    """A dependency for routers whose query strings are filters."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _DECLARED.get(id(route))
    if declared is None:
        declared = _DECLARED[id(route)] = declared_query_parameters(route.dependant)
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
