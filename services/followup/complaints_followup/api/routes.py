"""Follow-up's REST API: follow-ups of a complaint, manual call-backs, outcomes, worklists, results."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, cast
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header, Query, Response, status

from complaints_common.api import Principal, require_scope
from complaints_common.events.contracts import FollowupOutcomeV1
from complaints_common.events.envelope import FOLLOWUP_OUTCOME_V1, Event
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, NotFound, Unprocessable
from complaints_common.runtime import Runtime
from complaints_common.validation import PLANNED_FUTURE, PLANNED_PAST, QueryTime, refuse_unless_within
from complaints_followup.api.models import (
    FollowupView,
    Grouping,
    ManualFollowupIn,
    OutcomeGroup,
    OutcomeIn,
    OutcomeRecorded,
    OutcomeSummary,
    Period,
    Worklist,
)
from complaints_followup.domain.outcome import CallBack, NextStep, judge, net_promoter_score
from complaints_followup.domain.schedule import (
    ACTIONABLE_KINDS,
    CancelReason,
    Clock,
    FollowupKind,
    FollowupStatus,
)
from complaints_followup.events.firing import SOURCE
from complaints_followup.settings import FollowupSettings
from complaints_followup.store import complaints as known
from complaints_followup.store.outcomes import outcome_summary, record_outcome, worklist
from complaints_followup.store.tables import followups
from complaints_followup.store.timers import followup_by_id, followups_for, schedule

# Alike for "absent" and "another client's"; the id is not echoed back.
NO_COMPLAINT = "No such complaint is known to follow-up (yet)."
NO_FOLLOWUP = "No such follow-up."


Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: problem_response("Not found.", NotFound, NO_FOLLOWUP)}
CONFLICT: Responses = {
    409: problem_response("Conflict with the current state.", Conflict, "This follow-up is done.")
}


def followup_router(runtime: Runtime, clock: Clock) -> APIRouter:
    settings = cast(FollowupSettings, runtime.settings)
    router = APIRouter(prefix="/v1")

    def view(row: dict[str, Any]) -> FollowupView:
        overdue_before = clock() - timedelta(seconds=settings.overdue_after_s)
        overdue = (
            row["status"] == FollowupStatus.FIRED
            and row["kind"] in ACTIONABLE_KINDS
            and (row["due_at"] < overdue_before)
        )
        return FollowupView.model_validate({**row, "overdue": overdue})

    @router.get(
        "/complaints/{complaint_id}/followups",
        tags=["follow-ups"],
        summary="The follow-ups of a complaint",
        description="Every timer of the complaint, scheduled, fired, done or cancelled, in due order.",
        responses={**NOT_FOUND},
    )
    async def list_followups(
        complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> list[FollowupView]:
        async with runtime.db.transaction() as session:
            if await known.complaint(session, complaint_id, principal.client) is None:
                raise NotFound(NO_COMPLAINT)
            rows = await followups_for(session, principal.client, complaint_id)
        return [view(row) for row in rows]

    @router.post(
        "/complaints/{complaint_id}/followups",
        tags=["follow-ups"],
        status_code=status.HTTP_201_CREATED,
        summary="Flag the customer for a call-back",
        description=(
            "An agent sets a manual follow-up; it fires as `followup.due` with kind `manual` at `due_at` "
            "and then waits on the team's worklist for its outcome. Send `Idempotency-Key` to make a "
            "retried request return the same follow-up. The note is stored, never logged or published."
        ),
        responses={**NOT_FOUND, **CONFLICT},
    )
    async def set_manual_followup(
        complaint_id: UUID,
        body: ManualFollowupIn,
        response: Response,
        principal: Annotated[Principal, Depends(require_scope("file"))],
        idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
    ) -> FollowupView:
        refuse_unless_within(
            ("body", "due_at"), body.due_at, now=clock(), past=PLANNED_PAST, future=PLANNED_FUTURE
        )
        reason_key = f"{principal.client}:{idempotency_key}" if idempotency_key else str(uuid4())
        async with runtime.db.transaction() as session:
            complaint = await known.complaint(session, complaint_id, principal.client)
            if complaint is None or complaint["customer_id"] is None:
                raise NotFound(NO_COMPLAINT)
            if complaint["status"] == "closed":
                raise Conflict("The complaint is closed; reopen it before setting a follow-up.")
            row = await schedule(
                session,
                client_id=principal.client,
                complaint_id=complaint_id,
                customer_id=complaint["customer_id"],
                kind=FollowupKind.MANUAL,
                due_at=body.due_at,
                reason_key=reason_key,
                team=body.team or settings.default_team,
                agent_id=body.agent_id,
                note=body.note,
            )
            if row is None:  # a retried request: the follow-up its first attempt set
                existing = await session.execute(
                    followups.select().where(
                        followups.c.client_id == principal.client,
                        followups.c.complaint_id == complaint_id,
                        followups.c.kind == FollowupKind.MANUAL,
                        followups.c.reason_key == reason_key,
                        followups.c.attempt == 1,
                    )
                )
                row = dict(existing.one()._mapping)
        response.headers["Location"] = f"/v1/followups/{row['id']}"
        return view(row)

    @router.get(
        "/followups/{followup_id}",
        tags=["follow-ups"],
        summary="One follow-up",
        description="A follow-up by its id, with its outcome once recorded and whether it is overdue.",
        responses={**NOT_FOUND},
    )
    async def get_followup(
        followup_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> FollowupView:
        async with runtime.db.transaction() as session:
            row = await followup_by_id(session, principal.client, followup_id)
        if row is None:
            raise NotFound(NO_FOLLOWUP)
        return view(row)

    @router.delete(
        "/followups/{followup_id}",
        tags=["follow-ups"],
        summary="Cancel a scheduled follow-up",
        description="A cancelled follow-up never fires. Only one that has not fired can be cancelled.",
        responses={**NOT_FOUND, **CONFLICT},
    )
    async def cancel_followup(
        followup_id: UUID, principal: Annotated[Principal, Depends(require_scope("file"))]
    ) -> FollowupView:
        async with runtime.db.transaction() as session:
            row = await followup_by_id(session, principal.client, followup_id, lock=True)
            if row is None:
                raise NotFound(NO_FOLLOWUP)
            if row["status"] != FollowupStatus.SCHEDULED:
                raise Conflict(f"The follow-up is {row['status']}; only a scheduled one can be cancelled.")
            await session.execute(
                followups.update()
                .where(followups.c.id == followup_id)
                .values(status=FollowupStatus.CANCELLED, cancel_reason=CancelReason.CANCELLED_BY_AGENT)
            )
            row.update(status=FollowupStatus.CANCELLED, cancel_reason=CancelReason.CANCELLED_BY_AGENT)
        return view(row)

    @router.post(
        "/followups/{followup_id}/outcome",
        tags=["outcomes"],
        summary="Record the call-back's outcome",
        description=(
            "Reached and satisfied: `followup.outcome` satisfied, and a happy customer (CSAT 4-5 or NPS "
            "9-10) gets a review request. Reached and dissatisfied: `followup.outcome` dissatisfied, on "
            "which intake reopens and escalates the complaint. Not reached: the next attempt is scheduled "
            "(`FOLLOWUP_RETRY_SPACING_S` later) until `FOLLOWUP_MAX_CALL_ATTEMPTS`, then the follow-up "
            "is closed as unreachable (an early attempt's retry comes no earlier than the check was due). "
            "The comment is stored, never logged or published. An outcome can be recorded once, on a "
            "satisfaction check or manual follow-up, whenever the agent reaches the customer: before it "
            "falls due (it closes unfired) or after."
        ),
        responses={**NOT_FOUND, **CONFLICT},
    )
    async def record_callback(
        followup_id: UUID,
        body: OutcomeIn,
        principal: Annotated[Principal, Depends(require_scope("file"))],
    ) -> OutcomeRecorded:
        now = clock()
        async with runtime.db.transaction() as session:
            row = await followup_by_id(session, principal.client, followup_id, lock=True)
            if row is None:
                raise NotFound(NO_FOLLOWUP)
            _check_open(row)
            complaint = await known.complaint(session, row["complaint_id"]) or {}
            call = CallBack(body.reached, body.satisfied, body.csat, body.nps)
            verdict = judge(call, row["attempt"], settings.max_call_attempts)
            values = {
                "outcome": verdict.outcome.value,
                "reached": body.reached,
                "satisfied": body.satisfied,
                "csat": body.csat,
                "nps": body.nps,
                "comment": body.comment,
                "recorded_by": principal.actor_id,
                "recorded_at": now,
                "category": complaint.get("category"),
                "remedy": complaint.get("remedy"),
            }
            await record_outcome(session, followup_id, **values)
            next_row = await _next_step(session, row, verdict.next_step, now)
            event = _outcome_event(row, verdict.outcome.value, body, principal.actor_id, now)
            await runtime.outbox.add(session, event)
        done = {**row, **values, "status": FollowupStatus.DONE}
        return OutcomeRecorded(
            followup=view(done), outcome=verdict.outcome, next_followup=view(next_row) if next_row else None
        )

    async def _next_step(
        session: Any, row: dict[str, Any], step: NextStep, now: datetime
    ) -> dict[str, Any] | None:
        common = {
            "client_id": row["client_id"],
            "complaint_id": row["complaint_id"],
            "customer_id": row["customer_id"],
        }
        if step is NextStep.RETRY:
            return await schedule(
                session,
                **common,
                kind=row["kind"],
                reason_key=row["reason_key"],
                attempt=row["attempt"] + 1,
                # Not reached before the check was due: the planned call still comes, no earlier.
                due_at=max(now + timedelta(seconds=settings.retry_spacing_s), row["due_at"]),
                team=row["team"],
                agent_id=row["agent_id"],
                note=row["note"],
            )
        if step is NextStep.ASK_FOR_REVIEW:
            return await schedule(
                session,
                **common,
                kind=FollowupKind.REVIEW_REQUEST,
                reason_key=str(row["id"]),
                due_at=now + timedelta(seconds=settings.review_request_delay_s),
                team=row["team"],
                agent_id=row["agent_id"],
            )
        return None

    @router.get(
        "/worklists",
        tags=["worklists"],
        summary="Due and overdue follow-ups",
        description=(
            "Fired satisfaction checks and manual follow-ups waiting for an agent, oldest first, per team "
            "and agent. `state=overdue` keeps those due more than `FOLLOWUP_OVERDUE_AFTER_S` ago. "
            "Cursor-paginated: pass `next_cursor` back as `cursor`."
        ),
    )
    async def get_worklist(
        principal: Annotated[Principal, Depends(require_scope("read"))],
        team: Annotated[str | None, Query(max_length=100)] = None,
        agent_id: Annotated[str | None, Query(max_length=100)] = None,
        state: Annotated[str, Query(pattern="^(due|overdue)$", description="due (all) or overdue")] = "due",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Worklist:
        overdue_before = clock() - timedelta(seconds=settings.overdue_after_s) if state == "overdue" else None
        async with runtime.db.transaction() as session:
            rows = await worklist(
                session,
                principal.client,
                team=team,
                agent_id=agent_id,
                overdue_before=overdue_before,
                after=_decode_cursor(cursor) if cursor else None,
                limit=limit + 1,
            )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = _encode_cursor(page[-1]["due_at"], page[-1]["id"]) if more else None
        return Worklist(items=[view(row) for row in page], next_cursor=next_cursor)

    @router.get(
        "/outcomes/summary",
        tags=["outcomes"],
        summary="Outcomes, CSAT and NPS aggregated",
        description=(
            "Recorded outcomes grouped by any of period (day, week or month of recording), category, agent "
            "(who recorded it), remedy (the compensation offer kind; `none` without compensation) and kind."
        ),
    )
    async def summarise_outcomes(
        principal: Annotated[Principal, Depends(require_scope("read"))],
        group_by: Annotated[list[Grouping] | None, Query()] = None,
        period: Period = "week",
        since: QueryTime | None = None,
        until: QueryTime | None = None,
    ) -> OutcomeSummary:
        groups = list(dict.fromkeys(group_by or ["period"]))
        async with runtime.db.transaction() as session:
            rows = await outcome_summary(
                session, principal.client, group_by=groups, period=period, since=since, until=until
            )
        return OutcomeSummary(group_by=groups, period=period, groups=[_group(row, groups) for row in rows])

    return router


def _check_open(row: dict[str, Any]) -> None:
    if row["kind"] not in ACTIONABLE_KINDS:
        raise Conflict(f"A {row['kind']} follow-up takes no outcome.")
    # Early is normal: the agent reached the customer before the check fell due (it exists only
    # once compensation was granted or the complaint resolved). The outcome closes it unfired.
    if row["status"] not in (FollowupStatus.SCHEDULED, FollowupStatus.FIRED):
        raise Conflict(f"The follow-up is {row['status']}; its outcome cannot be recorded again.")


def _outcome_event(
    row: dict[str, Any], outcome: str, body: OutcomeIn, recorded_by: str, now: datetime
) -> Event[Any]:
    """Scores travel (they are not personal); the comment does not."""
    data = FollowupOutcomeV1(
        complaint_id=row["complaint_id"],
        client_id=row["client_id"],
        followup_id=row["id"],
        customer_id=row["customer_id"],
        outcome=outcome,
        attempt=row["attempt"],
        csat=body.csat,
        nps=body.nps,
        recorded_by=recorded_by,
        recorded_at=now,
    )
    return Event(FOLLOWUP_OUTCOME_V1, data, SOURCE)


def _group(row: dict[str, Any], groups: list[str]) -> OutcomeGroup:
    key = {
        name: (row[name].date().isoformat() if isinstance(row[name], datetime) else str(row[name]))
        for name in groups
    }
    average = row["csat_average"]
    return OutcomeGroup(
        key=key,
        recorded=row["recorded"],
        satisfied=row["satisfied"],
        dissatisfied=row["dissatisfied"],
        not_reached=row["not_reached"],
        unreachable=row["unreachable"],
        csat_average=round(float(average), 2) if average is not None else None,
        csat_answers=row["csat_answers"],
        nps=net_promoter_score(row["promoters"], row["detractors"], row["nps_answers"]),
        nps_answers=row["nps_answers"],
    )


def _encode_cursor(due_at: datetime, followup_id: UUID) -> str:
    raw = json.dumps({"due_at": due_at.isoformat(), "id": str(followup_id)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(value["due_at"]), UUID(value["id"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Unprocessable("The cursor is not one this API returned.") from exc
