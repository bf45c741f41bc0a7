"""What several of compensation's routes share: paging and the decision's view."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from complaints_compensation.api.models import DecisionPage, DecisionView
from complaints_compensation.store.decisions import DecisionRecord

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[
    int, Query(ge=0, le=10_000, description="Rows to skip (at most 10,000: narrow the filter).")
]


def view(decision: DecisionRecord) -> DecisionView:
    return DecisionView.model_validate(decision, from_attributes=True)


def page(decisions: list[DecisionRecord], limit: int, offset: int) -> DecisionPage:
    return DecisionPage(items=[view(d) for d in decisions], limit=limit, offset=offset)
