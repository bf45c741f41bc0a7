"""What compensation does with the events it consumes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import ComplaintCreatedV1, ComplaintErasureRequestedV1
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, COMPLAINT_ERASURE_REQUESTED_V1, Event
from complaints_compensation.application.deciding import decide_automatically
from complaints_compensation.application.decisions import forget_contact
from complaints_compensation.dependencies import CompensationDependencies


def subscriptions(deps: CompensationDependencies) -> list[Subscription[Any]]:
    async def on_complaint_created(session: AsyncConnection, event: Event[ComplaintCreatedV1]) -> None:
        await decide_automatically(session, deps, event.data)

    async def on_erasure(session: AsyncConnection, event: Event[ComplaintErasureRequestedV1]) -> None:
        await forget_contact(session, event.data.complaint_id)

    return [
        Subscription(COMPLAINT_CREATED_V1, on_complaint_created),
        Subscription(COMPLAINT_ERASURE_REQUESTED_V1, on_erasure),
    ]
