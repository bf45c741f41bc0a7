"""The one way a route receives what the process built (`NotificationsDependencies`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from complaints_common.runtime import dependencies_of
from complaints_notifications.dependencies import NotificationsDependencies

Deps = Annotated[NotificationsDependencies, Depends(dependencies_of(NotificationsDependencies))]
