"""The deadline profiles and calendars on offer, and each client's choice of them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from complaints_common.api import Principal, require_scope
from complaints_intake.api.dependencies import Deps
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.application.deadlines import ClientSelection, choose_deadlines, selection_of
from complaints_intake.domain.deadlines import DeadlineRules, DeadlineSpec, Selection, shipped_rules
from complaints_intake.store.regulated import TENANT_WIDE


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

    @classmethod
    def of(cls, selection: ClientSelection) -> DeadlineSelection:
        return cls(
            profile=selection.tenant.profile,
            calendar=selection.tenant.calendar,
            categories={
                k: Choice(profile=v.profile, calendar=v.calendar) for k, v in selection.categories.items()
            },
        )

    def chosen(self) -> ClientSelection:
        categories = {k: Selection(v.profile, v.calendar) for k, v in self.categories.items()}
        return ClientSelection(Selection(self.profile, self.calendar), categories)


class DeadlineProfiles(BaseModel):
    default_profile: str = Field(description="What a complaint gets when its client chose nothing.")
    profiles: list[ProfileView]
    calendars: list[CalendarView]
    selection: DeadlineSelection = Field(description="This client's choice.")

    @classmethod
    def of(cls, rules: DeadlineRules, selection: ClientSelection) -> DeadlineProfiles:
        return cls(
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
            selection=DeadlineSelection.of(selection),
        )


router = APIRouter(prefix="/v1/deadline-profiles", tags=["deadlines"])


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
    principal: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> DeadlineProfiles:
    return DeadlineProfiles.of(shipped_rules(), await selection_of(deps, principal.client))


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
    body: DeadlineSelection, principal: Annotated[Principal, Depends(require_scope("manage"))], deps: Deps
) -> DeadlineSelection:
    chosen = await choose_deadlines(deps, principal.client, principal.actor_id, body.chosen())
    return DeadlineSelection.of(chosen)
