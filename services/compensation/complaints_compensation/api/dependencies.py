"""What a route is handed: the process's compensation dependencies, typed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from complaints_common.runtime import dependencies_of
from complaints_compensation.dependencies import CompensationDependencies

Deps = Annotated[CompensationDependencies, Depends(dependencies_of(CompensationDependencies))]
