"""What compensation does with the events it consumes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, COMPLAINT_ERASURE_REQUESTED_V1, Event
from complaints_common.runtime import Runtime
from complaints_compensation.domain.policy import ComplaintFacts, decide, frontline_options, wants_options
from complaints_compensation.recording import Recorder, components
from complaints_compensation.store import decisions as store
from complaints_compensation.store.policies import PolicyBook


async def decide_automatically(
    session: AsyncConnection, complaint: ComplaintCreatedV1, book: PolicyBook, recorder: Recorder
) -> None:
    """The automatic decision for a new complaint, at most one whatever the redelivery; where an
    agent is on the line, the options the agent gives the customer instead (two or more)."""
    await store.lock_customer(session, complaint.client_id, complaint.customer.customer_id)
    await store.remember_complaint(session, complaint)
    policy = await book.current(session)
    now = datetime.now(UTC)
    contact = (store.contact_digest(complaint.customer.email), store.contact_digest(complaint.customer.phone))
    history = await store.customer_history(
        session, complaint, policy.abuse, now, contact, ComplaintFacts.of(complaint).order_ref
    )
    if wants_options(policy, complaint):
        options = frontline_options(policy, complaint, history, now)
        if len(options) >= 2:  # one option is no choice: then the automatic grant, as without an agent
            await recorder.offer_options(session, complaint, options, policy)
            return
    decision = decide(complaint, policy, history, now)
    await recorder.record_new(session, complaint, decision, "auto", policy)


def subscriptions(runtime: Runtime) -> list[Subscription[Any]]:
    book, recorder = components(runtime)

    async def on_complaint_created(session: AsyncConnection, event: Event[Any]) -> None:
        await decide_automatically(session, event.data, book, recorder)

    async def on_erasure(session: AsyncConnection, event: Event[Any]) -> None:
        await store.forget_contact(session, event.data.complaint_id)

    return [
        Subscription(COMPLAINT_CREATED_V1, on_complaint_created),
        Subscription(COMPLAINT_ERASURE_REQUESTED_V1, on_erasure),
    ]
