"""The one error format: RFC 9457 problem details (application/problem+json) for every error.

Raise one of these from a route; `install_problem_details` turns it (and every validation error,
HTTP error and unexpected exception) into a problem response.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_problem.error import Problem, StatusProblem
from fastapi_problem.handler import ExceptionHandler, add_exception_handler, new_exception_handler


class Unauthorised(StatusProblem):
    type_ = "unauthorised"
    title = "Authentication required."
    status = 401


class Forbidden(StatusProblem):
    type_ = "forbidden"
    title = "Not allowed."
    status = 403


class NotFound(StatusProblem):
    type_ = "not-found"
    title = "Not found."
    status = 404


class Conflict(StatusProblem):
    type_ = "conflict"
    title = "Conflict with the current state."
    status = 409


class Unprocessable(StatusProblem):
    type_ = "unprocessable"
    title = "The request cannot be processed."
    status = 422


class TooManyRequests(StatusProblem):
    type_ = "too-many-requests"
    title = "Too many requests."
    status = 429


class ServiceUnavailable(StatusProblem):
    type_ = "service-unavailable"
    title = "Service not ready."
    status = 503


def _validation_problem(_eh: ExceptionHandler, _request: Request, exc: RequestValidationError) -> Problem:
    """Name every bad field and say what is wrong with it, without echoing the values sent."""
    errors: list[dict[str, Any]] = [
        {
            "field": ".".join(str(part) for part in error["loc"]),
            "loc": list(error["loc"]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in json.loads(json.dumps(exc.errors(), default=str))
    ]
    return Problem(
        title="The request is not valid.",
        type_="request-validation-failed",
        status=422,
        detail=f"{len(errors)} field(s) are not valid.",
        errors=errors,
    )


def install_problem_details(app: FastAPI) -> None:
    add_exception_handler(app, new_exception_handler(request_validation_handler=_validation_problem))
