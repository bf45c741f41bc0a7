"""How the other services' events change the journey shown on a complaint (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from complaints_common.events import contracts as c
from complaints_intake.domain import journey as j

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CID = uuid4()
EUR = c.Money(amount=Decimal("10.00"), currency="EUR")
OFFER = c.Offer(kind="refund", description="Refund", value=EUR, cost=EUR)


def decision(status: c.DecisionStatus, at: datetime) -> c.CompensationDecisionRecordedV1:
    return c.CompensationDecisionRecordedV1(
        complaint_id=CID,
        decision_id=uuid4(),
        customer_id="C",
        status=status,
        offer=OFFER,
        rule_id="r",
        policy_version="1",
        decided_by="auto",
        decided_at=at,
    )


def notification(kind: str, status: c.NotificationStatus) -> c.NotificationStatusV1:
    return c.NotificationStatusV1(
        complaint_id=CID, message_id=uuid4(), kind=kind, channel="email", status=status, at=NOW
    )


def test_only_the_acknowledgement_counts_and_a_failure_never_hides_a_success() -> None:
    journey = j.on_notification(j.Journey(), notification("compensation", "sent"))
    assert journey.acknowledgement_sent_at is None
    journey = j.on_notification(journey, notification("acknowledgement", "failed"))
    assert journey.acknowledgement_failed
    journey = j.on_notification(journey, notification("acknowledgement", "sent"))
    assert journey.acknowledgement_sent_at == NOW and not journey.acknowledgement_failed
    again = j.on_notification(journey, notification("acknowledgement", "dead_lettered"))
    assert again.acknowledgement_sent_at == NOW and not again.acknowledgement_failed


def test_an_older_decision_never_overwrites_a_newer_one() -> None:
    journey = j.on_decision(j.Journey(), decision("granted", NOW))
    stale = j.on_decision(journey, decision("pending_approval", NOW - timedelta(minutes=1)))
    assert stale.compensation is not None and stale.compensation.status == "granted"
    rejected = j.on_decision(journey, decision("rejected", NOW + timedelta(minutes=1)))
    assert rejected.compensation is not None and rejected.compensation.status == "rejected"


def test_a_follow_up_goes_from_scheduled_to_done() -> None:
    due = c.FollowupDueV1(
        complaint_id=CID,
        followup_id=uuid4(),
        customer_id="C",
        kind="satisfaction_check",
        due_at=NOW,
        fired_at=NOW,
    )
    scheduled = j.on_followup_due(j.Journey(), due)
    assert scheduled.followup is not None and scheduled.followup.status == "scheduled"
    assert (
        j.on_followup_due(j.Journey(), due.model_copy(update={"kind": "deadline_warning"})).followup is None
    )
    outcome = c.FollowupOutcomeV1(
        complaint_id=CID,
        followup_id=due.followup_id,
        customer_id="C",
        outcome="satisfied",
        csat=5,
        recorded_by="agent-1",
        recorded_at=NOW + timedelta(hours=1),
    )
    done = j.on_followup_outcome(scheduled, outcome)
    assert done.followup is not None
    assert (done.followup.status, done.followup.outcome, done.followup.csat) == ("done", "satisfied", 5)
    assert j.on_followup_due(done, due).followup == done.followup


def test_a_clawback_shows_who_and_why_even_when_it_overtakes_its_grant() -> None:
    """The grant (compensation.granted) and the clawback (compensation.decided) travel on two
    topics: whichever comes first, the journey ends with the clawback and its reason."""
    decision_id = uuid4()
    grant = c.CompensationGrantedV1(
        complaint_id=CID,
        decision_id=decision_id,
        customer_id="C",
        offer=OFFER,
        rule_id="r",
        policy_version="1",
        granted_by="auto",
        granted_at=NOW,
    )
    clawback = c.VoucherChangedV1(
        complaint_id=CID,
        decision_id=decision_id,
        change="clawed_back",
        changed_by="sup-3",
        changed_at=NOW + timedelta(days=1),
        reason="claimed twice",
    )
    for events in ((grant, clawback), (clawback, grant)):
        journey = j.Journey()
        for event in events:
            journey = (
                j.on_granted(journey, event)
                if isinstance(event, c.CompensationGrantedV1)
                else j.on_voucher_changed(journey, event)
            )
        step = journey.compensation
        assert step is not None and step.decision_id == decision_id and step.status == "granted"
        assert (step.voucher, step.voucher_changed_by, step.voucher_reason) == (
            "clawed_back",
            "sup-3",
            "claimed twice",
        )
