"""consumer.safe_error and is_transient: what may be logged, and what must never dead-letter a message."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, RequestTimedOutError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from complaints_common.errors import DomainError, is_transient, safe_error
from complaints_common.events.envelope import MalformedEvent

SECRET_EMAIL = "octavia.pennywhistle+errors@example.invalid"


class DriverError(Exception):
    """A DB-API error as a driver raises it: a message that may quote data, and a SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        if sqlstate is not None:
            self.sqlstate = sqlstate


def dbapi_error(
    sqlstate: str | None,
    *,
    cls: type[DBAPIError] = DBAPIError,
    cause: BaseException | None = None,
    invalidated: bool = False,
) -> DBAPIError:
    orig = DriverError(
        f'duplicate key value violates unique constraint "uq_customers_email"\n'
        f"DETAIL:  Key (email)=({SECRET_EMAIL}) already exists.",
        sqlstate,
    )
    if cause is not None:
        orig.__cause__ = cause
    return cls(
        "INSERT INTO svc.customers (email) VALUES ($1)",
        (SECRET_EMAIL,),
        orig,
        connection_invalidated=invalidated,
    )


# --- safe_error ---------------------------------------------------------------------------------------


def test_a_domain_error_keeps_its_message() -> None:
    assert safe_error(DomainError("no compensation rule matches")) == (
        "DomainError: no compensation rule matches"
    )


def test_a_malformed_event_keeps_its_message() -> None:
    assert safe_error(MalformedEvent("missing CloudEvents header ce_id")) == (
        "MalformedEvent: missing CloudEvents header ce_id"
    )


def test_a_long_domain_message_is_truncated() -> None:
    assert len(safe_error(DomainError("x" * 5000))) == 1000


def test_a_database_error_yields_only_class_names_and_sqlstate() -> None:
    exc = dbapi_error("23505", cls=IntegrityError)
    assert SECRET_EMAIL in str(exc), "precondition: the raw error text carries personal data"
    assert safe_error(exc) == "IntegrityError(DriverError, sqlstate=23505)"


def test_a_database_error_without_sqlstate_says_so() -> None:
    described = safe_error(dbapi_error(None))
    assert described == "DBAPIError(DriverError, sqlstate=?)"
    assert SECRET_EMAIL not in described


@pytest.mark.parametrize(
    "exc",
    [
        ValueError(f"bad customer {SECRET_EMAIL}"),
        KeyError(SECRET_EMAIL),
        RuntimeError(SECRET_EMAIL),
        OSError(f"cannot reach {SECRET_EMAIL}"),
    ],
)
def test_any_other_error_yields_only_its_class_name(exc: BaseException) -> None:
    assert safe_error(exc) == type(exc).__name__


# --- is_transient -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        OSError("network unreachable"),
        ConnectionRefusedError(),
        ConnectionResetError(),
        TimeoutError(),
        TimeoutError(),
        KafkaError(),
        KafkaConnectionError(),
        KafkaTimeoutError(),
        RequestTimedOutError(),
        PoolTimeoutError("QueuePool limit reached"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_infrastructure_failures_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [ValueError("bad"), KeyError("k"), DomainError("rule"), MalformedEvent("poison"), RuntimeError()],
    ids=lambda exc: type(exc).__name__,
)
def test_application_failures_are_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


@pytest.mark.parametrize(
    "sqlstate",
    ["08006", "08001", "53300", "53100", "57P01", "57P03", "40001", "40P01", "57014", "55P03", "25P03"],
)
def test_database_errors_of_transient_sqlstates_are_transient(sqlstate: str) -> None:
    assert is_transient(dbapi_error(sqlstate, cls=OperationalError))


@pytest.mark.parametrize("sqlstate", ["23505", "23503", "22001", "42P01", "P0001", None])
def test_database_errors_of_other_sqlstates_are_not_transient(sqlstate: str | None) -> None:
    assert not is_transient(dbapi_error(sqlstate))


def test_a_database_error_caused_by_a_network_error_is_transient() -> None:
    assert is_transient(dbapi_error(None, cause=ConnectionResetError()))


def test_a_database_error_that_invalidated_the_connection_is_transient() -> None:
    assert is_transient(dbapi_error("23505", invalidated=True))


def test_the_sqlstate_of_the_drivers_own_exception_is_used() -> None:
    """SQLAlchemy's asyncpg adapter wraps asyncpg's exception; its sqlstate may be on the cause."""
    cause = DriverError("serialization failure", "40001")
    assert is_transient(dbapi_error(None, cause=cause))
