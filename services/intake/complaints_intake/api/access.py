"""Every API route's guard: the caller's per-client rate limit, before any work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from complaints_common.api import Principal, current_principal
from complaints_intake.api.dependencies import Deps


async def within_rate_limit(principal: Annotated[Principal, Depends(current_principal)], deps: Deps) -> None:
    """The caller is authenticated once per request (`current_principal`), here and for the
    route's `require_scope` alike."""
    await deps.rate_limit.check(principal.client)
