"""The complaint's journey through the other services, as intake learns it from their events.

A CRM reads one resource and sees how far the complaint has come: acknowledgement sent,
compensation granted or awaiting approval (and later redeemed, expired or clawed back, by whom and
why), follow-up scheduled or done. Pure rules, no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from complaints_common.events.contracts import (
    CompensationDecisionRecordedV1,
    CompensationGrantedV1,
    CompensationOptionsOfferedV1,
    DecisionStatus,
    FollowupDueV1,
    FollowupOutcomeKind,
    FollowupOutcomeV1,
    FollowupScheduledV1,
    Money,
    NotificationStatusV1,
    OfferKind,
    VoucherChange,
    VoucherChangedV1,
)

ACKNOWLEDGEMENT_KIND = "acknowledgement"


class CompensationStep(BaseModel):
    status: DecisionStatus = Field(description="granted, pending_approval, refused, held or rejected.")
    decision_id: UUID | None = Field(default=None, description="The decision in compensation's audit.")
    kind: OfferKind | None = None
    value: Money | None = Field(default=None, description="The offer's value to the customer, at retail.")
    decided_at: datetime
    voucher: VoucherChange | None = Field(
        default=None, description="What became of the grant later: redeemed, expired or clawed_back."
    )
    voucher_changed_at: datetime | None = None
    voucher_changed_by: str | None = Field(default=None, description="Who redeemed or clawed it back.")
    voucher_reason: str | None = Field(default=None, description="Why, in their words (a clawback's reason).")

    def same_decision(self, decision_id: UUID) -> bool:
        return self.decision_id == decision_id


VOUCHER_FIELDS = ("voucher", "voucher_changed_at", "voucher_changed_by", "voucher_reason")


class OptionShown(BaseModel):
    option_id: str
    kind: OfferKind
    value: Money


class OptionsStep(BaseModel):
    """The options the agent gave the customer, and which one settled it."""

    status: Literal["offered", "settled"]
    options: list[OptionShown]
    offered_at: datetime
    choose_by: datetime
    chosen: str | None = Field(
        default=None, description="The option the customer chose (None: the agent proposed their own)."
    )


class FollowupStep(BaseModel):
    status: Literal["scheduled", "done"]
    kind: str = Field(examples=["satisfaction_check"])
    due_at: datetime | None = None
    outcome: FollowupOutcomeKind | None = None
    csat: int | None = Field(default=None, ge=1, le=5)
    recorded_at: datetime | None = None


class Journey(BaseModel):
    """What the other services have done for this complaint so far, with times."""

    acknowledgement_sent_at: datetime | None = Field(
        default=None, description="When the customer's acknowledgement left the notifications service."
    )
    acknowledgement_failed: bool = False
    compensation: CompensationStep | None = None
    compensation_options: OptionsStep | None = Field(
        default=None, description="Where an agent was on the line: the customer's options, and the choice."
    )
    followup: FollowupStep | None = None


def on_notification(journey: Journey, data: NotificationStatusV1) -> Journey:
    if data.kind != ACKNOWLEDGEMENT_KIND:
        return journey
    if data.status == "sent":
        return journey.model_copy(
            update={"acknowledgement_sent_at": data.at, "acknowledgement_failed": False}
        )
    if journey.acknowledgement_sent_at is None:
        return journey.model_copy(update={"acknowledgement_failed": True})
    return journey


def _replace_step(journey: Journey, step: CompensationStep) -> Journey:
    """A decision's step; what became of its voucher is kept (the grant and the voucher change
    travel on two topics, so the change may come first)."""
    current = journey.compensation
    if current is not None and step.decision_id is not None and current.same_decision(step.decision_id):
        step = step.model_copy(update={name: getattr(current, name) for name in VOUCHER_FIELDS})
    return journey.model_copy(update={"compensation": step})


def _settle_options(journey: Journey, rule_id: str) -> Journey:
    """The first decision after the options settles them: a chosen (or lapsed-to) option names its
    rule; anything else was the agent's own proposal."""
    options = journey.compensation_options
    if options is None or options.status != "offered":
        return journey
    chosen = rule_id if rule_id in {o.option_id for o in options.options} else None
    settled = options.model_copy(update={"status": "settled", "chosen": chosen})
    return journey.model_copy(update={"compensation_options": settled})


def on_granted(journey: Journey, data: CompensationGrantedV1) -> Journey:
    """A grant, the decision's only event (at once, or on approval): the step it shows and the
    options it settles are those its decision record showed (`on_decision`)."""
    step = CompensationStep(
        status="granted",
        decision_id=data.decision_id,
        kind=data.offer.kind,
        value=data.offer.value,
        decided_at=data.granted_at,
    )
    return _replace_step(_settle_options(journey, data.rule_id), step)


def on_voucher_changed(journey: Journey, data: VoucherChangedV1) -> Journey:
    """A grant redeemed, expired or clawed back, with who and why, on the complaint's journey."""
    current = journey.compensation
    if current is None or not current.same_decision(data.decision_id):
        current = CompensationStep(status="granted", decision_id=data.decision_id, decided_at=data.changed_at)
    step = current.model_copy(
        update={
            "voucher": data.change,
            "voucher_changed_at": data.changed_at,
            "voucher_changed_by": data.changed_by,
            "voucher_reason": data.reason,
        }
    )
    return journey.model_copy(update={"compensation": step})


def on_options(journey: Journey, data: CompensationOptionsOfferedV1) -> Journey:
    if journey.compensation_options is not None:
        return journey  # offered once per complaint; a redelivery or a late copy changes nothing
    step = OptionsStep(
        status="offered",
        options=[
            OptionShown(option_id=o.option_id, kind=o.offer.kind, value=o.offer.value) for o in data.options
        ],
        offered_at=data.offered_at,
        choose_by=data.choose_by,
    )
    granted = journey.compensation
    if granted is not None and granted.status == "granted" and granted.decided_at >= data.offered_at:
        # The grant that settled them travels on another topic and came first: the options are of
        # different kinds, so the one of the grant's kind and value is the one chosen (or lapsed to).
        chosen = [o.option_id for o in step.options if (o.kind, o.value) == (granted.kind, granted.value)]
        step = step.model_copy(update={"status": "settled", "chosen": chosen[0] if chosen else None})
    return journey.model_copy(update={"compensation_options": step})


def on_decision(journey: Journey, data: CompensationDecisionRecordedV1) -> Journey:
    """A decision that does not grant (a `granted` one is a record published before grants were
    announced by `compensation.granted` alone: shown the same)."""
    journey = _settle_options(journey, data.rule_id)
    current = journey.compensation
    # Events of one complaint arrive in order, but a grant and a decision record (the pending one
    # before an approval) travel on two topics: never let an older decision overwrite a newer one.
    if current is not None and current.decided_at > data.decided_at:
        return journey
    step = CompensationStep(
        status=data.status,
        decision_id=data.decision_id,
        kind=data.offer.kind if data.offer else None,
        value=data.offer.value if data.offer else None,
        decided_at=data.decided_at,
    )
    return _replace_step(journey, step)


def on_followup_due(journey: Journey, data: FollowupDueV1 | FollowupScheduledV1) -> Journey:
    """A satisfaction check scheduled (followup.scheduled) or fallen due: shown with its due time
    until its outcome is recorded."""
    if data.kind != "satisfaction_check":
        return journey
    if journey.followup is not None and journey.followup.status == "done":
        return journey
    step = FollowupStep(status="scheduled", kind=data.kind, due_at=data.due_at)
    return journey.model_copy(update={"followup": step})


def on_followup_outcome(journey: Journey, data: FollowupOutcomeV1) -> Journey:
    previous = journey.followup
    step = FollowupStep(
        status="done",
        kind=previous.kind if previous else "satisfaction_check",
        due_at=previous.due_at if previous else None,
        outcome=data.outcome,
        csat=data.csat,
        recorded_at=data.recorded_at,
    )
    return journey.model_copy(update={"followup": step})
