"""Notifications' REST API: what was said to whom, every delivery attempt, and the operator's replay."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, NotFound
from complaints_notifications.api.dependencies import Deps
from complaints_notifications.application import messages
from complaints_notifications.application.messages import Delivery

EXAMPLE_ID = "3f1c2b8e-8d4a-4c55-9a7e-0d6f4f1f2a10"


class DeliveryAttemptView(BaseModel):
    """One try at handing a message to its transport, and what came of it."""

    attempt: int = Field(examples=[1])
    transport: str = Field(description="smtp, sms-http, webhook or log.", examples=["smtp"])
    started_at: datetime
    finished_at: datetime | None
    outcome: str = Field(
        description=(
            "in_flight, sent, retry, failed, dead_lettered, or interrupted (the worker died mid-send)."
        ),
        examples=["sent"],
    )
    detail: str | None = Field(description="Why it failed: a status code or error class.", examples=[None])
    provider_reference: str | None = Field(examples=["250 OK queued as 4F2A"])


class MessageView(BaseModel):
    """A message to the customer (or a task to the CRM): what was said, to whom, on which channel,
    and where its delivery stands."""

    id: UUID = Field(examples=[EXAMPLE_ID])
    complaint_id: UUID | None = Field(description="None only for a webhook subscription's test delivery.")
    customer_id: str | None = Field(examples=["CUST-1042"])
    kind: str = Field(
        examples=["acknowledgement"],
        description=(
            "acknowledgement, compensation, satisfaction_survey, resolved, reopened, escalated, "
            "callback_task; the regulatory letters holding_response, summary_resolution, final_response; "
            "for a push to a webhook subscription, its push type (e.g. complaint.status_changed)."
        ),
    )
    channel: str = Field(
        description="email, sms, webhook; pending until the recipient is known.", examples=["email"]
    )
    recipient: str | None = Field(
        description="The address; for a push, the webhook subscription's id.",
        examples=["ana.lima@example.com"],
    )
    language: str | None = Field(description="The locale the template was rendered in.", examples=["en"])
    subject: str | None
    body: str | None
    status: str = Field(
        description=(
            "awaiting_recipient, queued, sending, sent, failed (permanent), dead_lettered (retries spent)."
        ),
        examples=["sent"],
    )
    attempts: int = Field(examples=[1])
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class DeliveryView(MessageView):
    """A message with its delivery log."""

    log: list[DeliveryAttemptView]


Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {
    404: problem_response("No such message or complaint visible to this key.", NotFound, "No such message.")
}
MessageId = Annotated[UUID, Path(description="The message (delivery) id.", examples=[EXAMPLE_ID])]
CustomerId = Annotated[str, Path(min_length=1, max_length=100, examples=["CUST-1042"])]


router = APIRouter(prefix="/v1", tags=["messages"])
Reader = Annotated[Principal, Depends(require_scope("read"))]


def delivery_view(found: Delivery) -> DeliveryView:
    return DeliveryView.model_validate({**asdict(found.message), "log": [asdict(a) for a in found.log]})


@router.get(
    "/complaints/{complaint_id}/messages",
    summary="What the customer was told about a complaint",
    description="Every message recorded for the complaint, oldest first, with its delivery state.",
    responses=NOT_FOUND,
)
async def list_messages(complaint_id: UUID, principal: Reader, deps: Deps) -> list[MessageView]:
    found = await messages.complaint_messages(deps, principal, complaint_id)
    return [MessageView.model_validate(asdict(message)) for message in found]


@router.get(
    "/complaints/{complaint_id}/deliveries",
    summary="The delivery log of a complaint",
    description="Every message of the complaint with every attempt to deliver it and its outcome.",
    responses=NOT_FOUND,
)
async def complaint_deliveries(complaint_id: UUID, principal: Reader, deps: Deps) -> list[DeliveryView]:
    return [
        delivery_view(found) for found in await messages.complaint_deliveries(deps, principal, complaint_id)
    ]


@router.get(
    "/customers/{customer_id}/deliveries",
    summary="The delivery log of a customer",
    description="The customer's messages across complaints, newest first, each with its attempts.",
)
async def customer_deliveries(
    customer_id: CustomerId,
    principal: Reader,
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000, description="Messages to skip (at most 10,000).")] = 0,
) -> list[DeliveryView]:
    found = await messages.customer_deliveries(deps, principal, customer_id, limit, offset)
    return [delivery_view(each) for each in found]


@router.get(
    "/deliveries/{message_id}",
    summary="One message and its delivery log",
    responses=NOT_FOUND,
)
async def get_delivery(message_id: MessageId, principal: Reader, deps: Deps) -> DeliveryView:
    return delivery_view(await messages.delivery(deps, principal, message_id))


@router.post(
    "/deliveries/{message_id}/replay",
    summary="Send a failed or dead-lettered message again",
    description=(
        "Queues the message again with a fresh retry budget. It keeps its id, so the e-mail's "
        "Message-ID, the SMS Idempotency-Key and the webhook-id stay the same. Needs the admin scope "
        "of the message's client."
    ),
    status_code=202,
    responses={
        **NOT_FOUND,
        409: problem_response(
            "The message is not failed or dead-lettered.",
            Conflict,
            "Only a failed or dead-lettered message can be replayed; this one is sent.",
        ),
    },
)
async def replay_delivery(
    message_id: MessageId, principal: Annotated[Principal, Depends(require_scope("admin"))], deps: Deps
) -> MessageView:
    return MessageView.model_validate(asdict(await messages.replay_message(deps, principal, message_id)))
