"""Webhook subscriptions: a CRM client's admin registers where the platform pushes what.

Every operation needs the `admin` scope (a tenant admin's token, or an API key with that scope) and
acts on the caller's own client only: another client's subscription answers 404 like a missing
one. The signing secret is generated here and shown once (on creation and on rotation); it is never
returned again, logged or put in an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Response, status
from fastapi_problem.error import StatusProblem
from pydantic import BaseModel, ConfigDict, Field

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, NotFound
from complaints_common.runtime import Runtime
from complaints_notifications.api.routes import Responses
from complaints_notifications.channels.targets import TargetPolicy
from complaints_notifications.domain.push import CATALOGUE, Push, PushType, TargetRefused
from complaints_notifications.pushes import push_test
from complaints_notifications.settings import WEBHOOK_MAX_OVERLAP_S, NotificationSettings
from complaints_notifications.store import webhooks as store

SCOPE = "admin"
NO_SUBSCRIPTION = "No subscription has this id."
EXAMPLE_SUBSCRIPTION = "5e0f8a42-9b1c-4d3e-a2f1-7c6b5a4d3e2f"
EXAMPLE_URL = "https://crm.example.com/hooks/complaints"
EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the documentation's example


class WebhookTargetRefused(StatusProblem):
    type_ = "webhook-target-refused"
    title = "The webhook target may not be called."
    status = 422


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


def webhook_router(runtime: Runtime) -> APIRouter:
    settings = runtime.settings
    assert isinstance(settings, NotificationSettings)
    policy = TargetPolicy.of(settings)
    box = store.SecretBox.of(settings)
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

    async def checked(url: str) -> str:
        try:
            await policy.check(url)
        except TargetRefused as exc:
            raise WebhookTargetRefused(str(exc)) from exc
        return url

    async def view(rows: list[dict[str, Any]]) -> list[SubscriptionView]:
        async with runtime.db.transaction() as session:
            states = await store.secret_states(session, [row["id"] for row in rows], datetime.now(UTC))
        return [SubscriptionView.model_validate({**row, "secrets": states[row["id"]]}) for row in rows]

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
    async def create(body: NewSubscription, principal: Admin, response: Response) -> CreatedSubscription:
        url = await checked(body.url)
        secret = store.new_secret()
        async with runtime.db.transaction() as session:
            if await store.count_of(session, principal.client) >= settings.webhook_max_subscriptions:
                raise Conflict(f"At most {settings.webhook_max_subscriptions} subscriptions per client.")
            row = await store.create(
                session,
                box,
                {
                    "client_id": principal.client,
                    "url": url,
                    "event_types": sorted(set(body.event_types)),
                    "description": body.description,
                    "created_by": principal.actor_id,
                },
                secret,
            )
        response.headers["Location"] = f"/v1/webhooks/{row['id']}"
        (shown,) = await view([row])
        return CreatedSubscription.model_validate({**shown.model_dump(), "secret": secret})

    @router.get("", summary="The client's webhook subscriptions")
    async def list_subscriptions(principal: Admin) -> list[SubscriptionView]:
        async with runtime.db.transaction() as session:
            rows = await store.of_client(session, principal.client)
        return await view(rows)

    @router.get("/{subscription_id}", summary="One webhook subscription", responses=NOT_FOUND)
    async def get_subscription(subscription_id: SubscriptionId, principal: Admin) -> SubscriptionView:
        async with runtime.db.transaction() as session:
            row = await store.one(session, principal.client, subscription_id)
        if row is None:
            raise NotFound(NO_SUBSCRIPTION)
        return (await view([row]))[0]

    @router.patch(
        "/{subscription_id}",
        summary="Change a subscription's URL, push types or description",
        responses={**NOT_FOUND, **REFUSED},
    )
    async def change(
        subscription_id: SubscriptionId, body: SubscriptionChange, principal: Admin
    ) -> SubscriptionView:
        values: dict[str, Any] = body.model_dump(exclude_unset=True, exclude_none=True)
        if body.url is not None:
            await checked(body.url)
        if body.event_types is not None:
            values["event_types"] = sorted(set(body.event_types))
        async with runtime.db.transaction() as session:
            row = await store.update_subscription(session, principal.client, subscription_id, values)
        if row is None:
            raise NotFound(NO_SUBSCRIPTION)
        return (await view([row]))[0]

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
        body: Annotated[Rotation | None, Body()] = None,
    ) -> RotatedSecret:
        overlap = body.overlap_seconds if body and body.overlap_seconds is not None else None
        secret = store.new_secret()
        async with runtime.db.transaction() as session:
            if await store.one(session, principal.client, subscription_id, lock=True) is None:
                raise NotFound(NO_SUBSCRIPTION)
            ends = await store.rotate(
                session,
                box,
                subscription_id,
                secret,
                datetime.now(UTC),
                settings.webhook_secret_overlap_s if overlap is None else overlap,
            )
        return RotatedSecret(secret=secret, previous_secrets_expire_at=ends)

    @router.post(
        "/{subscription_id}/test",
        summary="Send a test delivery",
        description="Queues a signed `webhook.test` push to the subscription, whatever push types it chose.",
        status_code=status.HTTP_202_ACCEPTED,
        responses=NOT_FOUND,
    )
    async def test(subscription_id: SubscriptionId, principal: Admin) -> TestDelivery:
        async with runtime.db.transaction() as session:
            if await store.one(session, principal.client, subscription_id) is None:
                raise NotFound(NO_SUBSCRIPTION)
            message_id = await push_test(session, principal.client, subscription_id)
        return TestDelivery(message_id=message_id, status="queued")

    @router.delete(
        "/{subscription_id}",
        summary="Delete a subscription",
        description="Pushes not sent yet are not sent (they fail as 'subscription deleted').",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=NOT_FOUND,
    )
    async def remove(subscription_id: SubscriptionId, principal: Admin) -> Response:
        async with runtime.db.transaction() as session:
            if not await store.remove(session, principal.client, subscription_id):
                raise NotFound(NO_SUBSCRIPTION)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


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
