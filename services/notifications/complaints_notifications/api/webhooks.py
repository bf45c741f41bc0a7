"""Webhook subscriptions: a CRM client's admin registers where the platform pushes what.

Every operation needs the `admin` scope (a tenant admin's token, or an API key with that scope) and
acts on the caller's own client only: another client's subscription answers 404 like a missing
one. The signing secret is generated here and shown once (on creation and on rotation); it is never
returned again, logged or put in an error.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, NotFound
from complaints_notifications.api.dependencies import Deps
from complaints_notifications.api.messages import Responses
from complaints_notifications.application import webhooks
from complaints_notifications.application.webhooks import NO_SUBSCRIPTION, Subscribed, WebhookTargetRefused
from complaints_notifications.domain.push import CATALOGUE, Push, PushType
from complaints_notifications.settings import WEBHOOK_MAX_OVERLAP_S

SCOPE = "admin"
EXAMPLE_SUBSCRIPTION = "5e0f8a42-9b1c-4d3e-a2f1-7c6b5a4d3e2f"
EXAMPLE_URL = "https://crm.example.com/hooks/complaints"
EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the documentation's example


NOT_FOUND: Responses = {
    404: problem_response("No such subscription (or another client's).", NotFound, NO_SUBSCRIPTION)
}
REFUSED: Responses = {
    422: problem_response(
        "The body is not valid, or the target URL may not be called (type webhook-target-refused).",
        WebhookTargetRefused,
        "The target's host resolves to a private address, which is not allowed.",
    )
}
EventTypes = Annotated[
    list[PushType],
    Field(
        min_length=1,
        max_length=len(PushType),
        description="The push types to send (see the `webhooks` section).",
    ),
]
Url = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2000,
        description="https, resolving to public addresses only (unless the operator allows others).",
        examples=[EXAMPLE_URL],
    ),
]
Description = Annotated[str, Field(min_length=1, max_length=200, examples=["Salesforce production"])]
Admin = Annotated[Principal, Depends(require_scope(SCOPE))]
SubscriptionId = Annotated[UUID, Path(description="The subscription id.", examples=[EXAMPLE_SUBSCRIPTION])]


class NewSubscription(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": EXAMPLE_URL,
                    "event_types": ["compensation.approval_waiting", "complaint.status_changed"],
                    "description": "Salesforce production",
                }
            ]
        },
    )

    url: Url
    event_types: EventTypes
    description: Description | None = None


class SubscriptionChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"event_types": ["complaint.status_changed"]}]}
    )

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 3600}]})

    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=WEBHOOK_MAX_OVERLAP_S,
        description="How long the previous secrets keep signing beside the new one (default: operator's).",
    )


class SecretState(BaseModel):
    created_at: datetime
    expires_at: datetime | None = Field(
        description="When it stops signing; null while it is the current one."
    )


class SubscriptionView(BaseModel):
    id: UUID = Field(examples=[EXAMPLE_SUBSCRIPTION])
    url: str = Field(examples=[EXAMPLE_URL])
    event_types: list[str]
    description: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    secrets: list[SecretState] = Field(
        description="The secrets that sign now, newest first (never their values)."
    )


class CreatedSubscription(SubscriptionView):
    secret: str = Field(
        description="The signing secret (Standard Webhooks). Shown only now: keep it.",
        examples=[EXAMPLE_SECRET],
    )


class RotatedSecret(BaseModel):
    secret: str = Field(
        description="The new signing secret. Shown only now: keep it.", examples=[EXAMPLE_SECRET]
    )
    previous_secrets_expire_at: datetime = Field(description="Until then the old secrets sign too.")


class TestDelivery(BaseModel):
    message_id: UUID = Field(description="Follow it at GET /v1/deliveries/{message_id}.")
    status: str = Field(examples=["queued"])


router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def subscription_view(found: Subscribed) -> SubscriptionView:
    secrets = [SecretState.model_validate(asdict(state)) for state in found.secrets]
    return SubscriptionView.model_validate({**asdict(found.subscription), "secrets": secrets})


@router.post(
    "",
    summary="Subscribe a URL to push types",
    description=(
        "Registers a webhook for the caller's client. The target is checked now (https; every "
        "address its host resolves to must be public) and again at every delivery. The response "
        "carries the signing secret, once."
    ),
    status_code=status.HTTP_201_CREATED,
    responses={
        **REFUSED,
        409: problem_response(
            "The client has as many subscriptions as allowed.",
            Conflict,
            "At most 20 subscriptions per client.",
        ),
    },
)
async def create(
    body: NewSubscription, principal: Admin, response: Response, deps: Deps
) -> CreatedSubscription:
    created, secret = await webhooks.subscribe(deps, principal, body.url, body.event_types, body.description)
    response.headers["Location"] = f"/v1/webhooks/{created.subscription.id}"
    return CreatedSubscription.model_validate({**subscription_view(created).model_dump(), "secret": secret})


@router.get("", summary="The client's webhook subscriptions")
async def list_subscriptions(principal: Admin, deps: Deps) -> list[SubscriptionView]:
    return [subscription_view(found) for found in await webhooks.subscriptions_of(deps, principal)]


@router.get("/{subscription_id}", summary="One webhook subscription", responses=NOT_FOUND)
async def get_subscription(subscription_id: SubscriptionId, principal: Admin, deps: Deps) -> SubscriptionView:
    return subscription_view(await webhooks.subscription(deps, principal, subscription_id))


@router.patch(
    "/{subscription_id}",
    summary="Change a subscription's URL, push types or description",
    responses={**NOT_FOUND, **REFUSED},
)
async def change(
    subscription_id: SubscriptionId, body: SubscriptionChange, principal: Admin, deps: Deps
) -> SubscriptionView:
    changed = await webhooks.change_subscription(
        deps,
        principal,
        subscription_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
    )
    return subscription_view(changed)


@router.post(
    "/{subscription_id}/rotate-secret",
    summary="Rotate the signing secret",
    description=(
        "Generates a new secret, which signs from now on; the previous ones keep signing beside it "
        "for the overlap, so the receiver can switch without losing a delivery."
    ),
    responses=NOT_FOUND,
)
async def rotate_secret(
    subscription_id: SubscriptionId,
    principal: Admin,
    deps: Deps,
    body: Annotated[Rotation | None, Body()] = None,
) -> RotatedSecret:
    overlap = body.overlap_seconds if body else None
    rotated = await webhooks.rotate_secret(deps, principal, subscription_id, overlap)
    return RotatedSecret(secret=rotated.secret, previous_secrets_expire_at=rotated.previous_secrets_expire_at)


@router.post(
    "/{subscription_id}/test",
    summary="Send a test delivery",
    description="Queues a signed `webhook.test` push to the subscription, whatever push types it chose.",
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
)
async def test(subscription_id: SubscriptionId, principal: Admin, deps: Deps) -> TestDelivery:
    return TestDelivery(
        message_id=await webhooks.send_test(deps, principal, subscription_id), status="queued"
    )


@router.delete(
    "/{subscription_id}",
    summary="Delete a subscription",
    description="Pushes not sent yet are not sent (they fail as 'subscription deleted').",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
async def remove(subscription_id: SubscriptionId, principal: Admin, deps: Deps) -> Response:
    await webhooks.unsubscribe(deps, principal, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def push_documentation() -> APIRouter:
    """The OpenAPI `webhooks` section: one entry per push type, its payload schema and an example."""
    webhooks = APIRouter()
    for documented in CATALOGUE:
        model = Push[documented.data]  # type: ignore[name-defined]
        webhooks.add_api_route(
            documented.type,
            _receiver(model),
            methods=["POST"],
            summary=documented.summary,
            description=(
                f"`{documented.type}`, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, "
                "`webhook-signature`). Answer 2xx to acknowledge; anything else is retried with backoff."
            ),
            # Deep-merged into the generated operation: the payload's real example, and no credentials
            # (the receiver authenticates the push by its signature).
            openapi_extra={
                "requestBody": {"content": {"application/json": {"example": documented.example}}},
                "security": [],
            },
            responses={200: {"description": "Received."}},
        )
    return webhooks


def _receiver(model: type[BaseModel]) -> Any:
    async def receive(body: Any) -> None:
        """Documentation only: what the CRM's endpoint receives."""

    # The payload's model, as a real type (this module's annotations are strings).
    receive.__annotations__ = {"body": model, "return": None}
    return receive
