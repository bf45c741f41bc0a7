"""How a follow-up is shown, and the problem responses the follow-up routes document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, NotFound
from complaints_followup.api.models import FollowupView
from complaints_followup.application.followups import NO_FOLLOWUP
from complaints_followup.application.worklists import overdue_before
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.domain.schedule import is_overdue
from complaints_followup.store.timers import Followup

Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: problem_response("Not found.", NotFound, NO_FOLLOWUP)}
CONFLICT: Responses = {
    409: problem_response("Conflict with the current state.", Conflict, "This follow-up is done.")
}


def views(deps: FollowupDependencies, followups: Iterable[Followup]) -> list[FollowupView]:
    """The follow-ups as shown, each flagged overdue by the service's clock now."""
    before = overdue_before(deps)
    return [_view(followup, before) for followup in followups]


def view(deps: FollowupDependencies, followup: Followup) -> FollowupView:
    return _view(followup, overdue_before(deps))


def _view(followup: Followup, before: datetime) -> FollowupView:
    overdue = is_overdue(followup.status, followup.kind, followup.due_at, before)
    return FollowupView.model_validate({**asdict(followup), "overdue": overdue})
