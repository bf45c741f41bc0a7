"""What intake's routes are handed: the process's dependencies object and the API key ring."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from complaints_common.identity import KeyRing
from complaints_common.runtime import dependencies_of
from complaints_intake.dependencies import IntakeDependencies

Deps = Annotated[IntakeDependencies, Depends(dependencies_of(IntakeDependencies))]


def key_ring(request: Request) -> KeyRing:
    """The keys this process honours (complaints_common.api installs them on the app)."""
    ring: KeyRing = request.app.state.key_ring
    return ring


Keys = Annotated[KeyRing, Depends(key_ring)]
