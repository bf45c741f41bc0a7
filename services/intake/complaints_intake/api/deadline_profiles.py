"""The deadline profiles and calendars on offer, and each client's choice of them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from complaints_common.api import Principal, require_scope
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.deadlines import DeadlineSpec, Selection, shipped_rules
from complaints_intake.store.regulated import TENANT_WIDE, replace_settings, settings_of


class ProfileView(BaseModel):
    name: str
    description: str
    regime: str | None = Field(description="The regulator whose complaints return counts it.")
    calendar: str | None = Field(description="Its business days' calendar unless the complaint's differs.")
    deadlines: list[DeadlineSpec]


class CalendarView(BaseModel):
    name: str
    description: str
    timezone: str
    covered_from: date = Field(description="The first day whose public holidays are listed.")
    covered_until: date = Field(description="The last: business days after it would be miscounted.")


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str | None = Field(default=None, examples=["uk-fca-disp"])
    calendar: str | None = Field(default=None, examples=["GB-EAW"])


class DeadlineSelection(BaseModel):
    """A client's choice: tenant-wide, and per category (which wins). Unset parts fall back to the
    platform's default profile and to the profile's calendar; a customer's region picks its own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "profile": "uk-fca-disp",
                    "calendar": "GB-EAW",
                    "categories": {"payments": {"profile": "uk-payment-services"}},
                }
            ]
        },
    )

    profile: str | None = None
    calendar: str | None = None
    categories: dict[str, Choice] = Field(default_factory=dict, max_length=200)

    @model_validator(mode="after")
    def _known_names(self) -> DeadlineSelection:
        rules = shipped_rules()
        choices = [Choice(profile=self.profile, calendar=self.calendar), *self.categories.values()]
        unknown = [c.profile for c in choices if c.profile and c.profile not in rules.profiles]
        unknown += [c.calendar for c in choices if c.calendar and c.calendar not in rules.calendars]
        if unknown:
            raise ValueError(f"Unknown profile or calendar: {', '.join(sorted(set(unknown)))}.")
        if TENANT_WIDE in self.categories:
            raise ValueError("A category needs a name.")
        return self


class DeadlineProfiles(BaseModel):
    default_profile: str = Field(description="What a complaint gets when its client chose nothing.")
    profiles: list[ProfileView]
    calendars: list[CalendarView]
    selection: DeadlineSelection = Field(description="This client's choice.")


def deadline_profiles_router(deps: IntakeDependencies) -> APIRouter:
    runtime = deps.runtime
    router = APIRouter(prefix="/v1/deadline-profiles", tags=["deadlines"])

    async def current(client_id: str) -> DeadlineSelection:
        async with runtime.db.transaction() as session:
            stored = await settings_of(session, client_id)
        tenant = stored.pop(TENANT_WIDE, Selection())
        return DeadlineSelection(
            profile=tenant.profile,
            calendar=tenant.calendar,
            categories={k: Choice(profile=v.profile, calendar=v.calendar) for k, v in stored.items()},
        )

    @router.get(
        "",
        summary="List the deadline profiles and calendars",
        description=(
            "Every deadline profile with its deadlines (statutory: from receipt, never paused; "
            "operational: paused while waiting on the customer), every business-day calendar with "
            "the years its holidays cover, and the calling client's selection."
        ),
        responses={**RATE_LIMITED},
    )
    async def list_profiles(
        principal: Annotated[Principal, Depends(require_scope("read"))],
    ) -> DeadlineProfiles:
        rules = shipped_rules()
        return DeadlineProfiles(
            default_profile=rules.default_profile,
            profiles=[
                ProfileView(
                    name=name,
                    description=p.description,
                    regime=p.regime,
                    calendar=p.calendar,
                    deadlines=p.deadlines,
                )
                for name, p in rules.profiles.items()
            ],
            calendars=[
                CalendarView(
                    name=name,
                    description=c.description,
                    timezone=c.timezone,
                    covered_from=date(c.covers[0], 1, 1),
                    covered_until=c.covered_until,
                )
                for name, c in rules.calendars.items()
            ],
            selection=await current(principal.client),
        )

    @router.put(
        "/selection",
        summary="Choose the client's deadline profiles and calendars",
        description=(
            "Replaces the calling client's selection. It applies to complaints filed from now on; "
            "each complaint shows the profile and calendar it got and why."
        ),
        responses={**RATE_LIMITED},
    )
    async def choose(
        body: DeadlineSelection, principal: Annotated[Principal, Depends(require_scope("manage"))]
    ) -> DeadlineSelection:
        settings = {TENANT_WIDE: Selection(body.profile, body.calendar)}
        settings |= {k: Selection(v.profile, v.calendar) for k, v in body.categories.items()}
        async with runtime.db.transaction() as session:
            await replace_settings(session, principal.client, settings, principal.client, datetime.now(UTC))
        return await current(principal.client)

    return router
