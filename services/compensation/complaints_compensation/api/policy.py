"""The compensation policy: versioned rules as data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from complaints_common.api import Principal, platform_operator, require_scope
from complaints_common.openapi import VALIDATION_EXAMPLE, problem_response
from complaints_common.problems import Conflict, Forbidden, RequestValidationFailed
from complaints_compensation.api.dependencies import Deps
from complaints_compensation.api.models import PolicyVersion
from complaints_compensation.application import policy
from complaints_compensation.domain.rules import Policy

router = APIRouter(prefix="/v1", tags=["policy"])


@router.get("/policy", summary="The active compensation policy")
async def read_policy(_: Annotated[Principal, Depends(require_scope("read"))], deps: Deps) -> Policy:
    return await policy.active_policy(deps)


@router.get("/policy/versions", summary="Every policy version ever loaded, newest first")
async def list_versions(
    _: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> list[PolicyVersion]:
    return [PolicyVersion.model_validate(v, from_attributes=True) for v in await policy.policy_versions(deps)]


@router.put(
    "/policy",
    summary="Replace the policy with a new version (validated; old versions are kept)",
    description=(
        "The policy is the platform's, for every client: only a platform operator replaces it. "
        "It is validated whole, including every offer description's placeholders."
    ),
    responses={
        403: problem_response(
            "Only a platform operator replaces the policy.",
            Forbidden,
            "This operation spans every client: only a platform operator may do it.",
        ),
        409: problem_response(
            "This version exists with other content: give the new policy a new version.",
            Conflict,
            "Policy version 2026.12-default-1 exists with other content.",
        ),
        422: problem_response(
            "The policy is not valid; the errors name each field.",
            RequestValidationFailed,
            "1 field(s) are not valid.",
            errors=VALIDATION_EXAMPLE,
        ),
    },
)
async def replace_policy(
    body: Policy, principal: Annotated[Principal, Depends(platform_operator)], deps: Deps
) -> Policy:
    return await policy.replace_policy(deps, principal, body)
