"""Requests generated from a service's OpenAPI document (schemathesis and hypothesis), for the fuzz
and tenant-isolation tests: drawn without shrinking and without a hypothesis database. Needs the
workspace's dev dependency group (schemathesis, hypothesis), as the tests do."""

from __future__ import annotations

import contextlib
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode


def draw_cases(operation: Any, mode: GenerationMode, count: int) -> list[Any]:
    """Up to `count` generated requests for one operation."""
    cases: list[Any] = []

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def collect(case: Any) -> None:
        cases.append(case)

    # Unsatisfiable: e.g. no invalid request exists for an operation without parameters or body.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        collect()
    return cases
