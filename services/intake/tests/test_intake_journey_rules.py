"""How the other services' events change the journey shown on a complaint (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from complaints_common.events import contracts as c
from complaints_devstack.factories import compensation_granted, options_offered
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


def grant(rule_id: str, decision_id: UUID) -> c.CompensationGrantedV1:
    """A grant of OFFER's kind and value (the journey shows no more of the offer)."""
    event = compensation_granted(
        CID, "C", NOW, kind="refund", decision_id=decision_id, rule_id=rule_id, granted_by="agent-1"
    )
    return event.data


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
    granted = grant("r", decision_id)
    clawback = c.VoucherChangedV1(
        complaint_id=CID,
        decision_id=decision_id,
        change="clawed_back",
        changed_by="sup-3",
        changed_at=NOW + timedelta(days=1),
        reason="claimed twice",
    )
    for events in ((granted, clawback), (clawback, granted)):
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


def offered() -> j.Journey:
    credit = OFFER.model_copy(update={"kind": "fixed_credit"})
    options = options_offered(CID, [("fix", OFFER), ("credit", credit)], NOW - timedelta(minutes=5))
    return j.on_options(j.Journey(), options.data)


def test_a_grant_alone_settles_the_options_and_shows_what_its_decision_record_showed() -> None:
    """A grant is announced by compensation.granted alone: the journey it makes is the one its
    decision record (status granted, published beside it before) made; both together, in either
    order, make it too."""
    decision_id = uuid4()
    for rule_id, chosen in (("credit", "credit"), ("proposal", None)):
        alone = j.on_granted(offered(), grant(rule_id, decision_id))
        assert alone.compensation_options is not None
        assert (alone.compensation_options.status, alone.compensation_options.chosen) == ("settled", chosen)
        record = decision("granted", NOW).model_copy(
            update={"decision_id": decision_id, "rule_id": rule_id, "decided_by": "agent-1"}
        )
        assert j.on_decision(offered(), record) == alone
        assert j.on_granted(j.on_decision(offered(), record), grant(rule_id, decision_id)) == alone
        assert j.on_decision(j.on_granted(offered(), grant(rule_id, decision_id)), record) == alone
    step = alone.compensation
    assert step is not None
    assert (step.status, step.decision_id, step.kind, step.value, step.decided_at) == (
        "granted",
        decision_id,
        "refund",
        EUR,
        NOW,
    )


def test_a_grant_that_overtakes_the_options_it_settles_settles_them_when_they_arrive() -> None:
    """The options travel on compensation.decided, the grant that settles them on
    compensation.granted: whichever arrives first, they end settled, naming the chosen one."""
    credit = OFFER.model_copy(update={"kind": "fixed_credit"})
    options = options_offered(CID, [("fix", OFFER), ("credit", credit)], NOW - timedelta(minutes=5)).data
    chosen = grant("credit", uuid4()).model_copy(update={"offer": credit})
    proposed = grant("proposal", uuid4()).model_copy(
        update={
            "offer": credit.model_copy(update={"value": c.Money(amount=Decimal("99.00"), currency="EUR")})
        }
    )
    for granted, name in ((chosen, "credit"), (proposed, None)):
        in_order = j.on_granted(j.on_options(j.Journey(), options), granted)
        overtaken = j.on_options(j.on_granted(j.Journey(), granted), options)
        assert overtaken.compensation_options is not None
        assert (overtaken.compensation_options.status, overtaken.compensation_options.chosen) == (
            "settled",
            name,
        )
        assert overtaken == in_order
    earlier = chosen.model_copy(update={"granted_at": NOW - timedelta(days=1)})
    before = j.on_options(j.on_granted(j.Journey(), earlier), options)
    assert before.compensation_options is not None and before.compensation_options.status == "offered", (
        "a grant older than the options did not settle them"
    )


def test_the_waiting_record_never_overwrites_the_grant_that_overtook_it() -> None:
    """The pending record (compensation.decided) and the approval's grant (compensation.granted)
    travel on two topics: whichever arrives first, the journey shows the grant."""
    decision_id = uuid4()
    waiting = decision("pending_approval", NOW - timedelta(hours=1)).model_copy(
        update={"decision_id": decision_id}
    )
    approved = grant("proposal", decision_id)
    for journey in (
        j.on_granted(j.on_decision(j.Journey(), waiting), approved),
        j.on_decision(j.on_granted(j.Journey(), approved), waiting),
    ):
        assert journey.compensation is not None and journey.compensation.status == "granted"
