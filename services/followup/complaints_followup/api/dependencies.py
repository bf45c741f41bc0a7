"""What a follow-up route is handed: the service's dependencies object, built once at start-up."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from complaints_common.runtime import dependencies_of
from complaints_followup.dependencies import FollowupDependencies

Deps = Annotated[FollowupDependencies, Depends(dependencies_of(FollowupDependencies))]
