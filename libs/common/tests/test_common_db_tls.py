"""PostgreSQL over TLS with `verify-full` on every connection path: the SQLAlchemy engine and the raw
asyncpg connections (relay, delivery loop, republish), set by URL or by settings; a wrong CA fails.

The session's PostgreSQL serves a certificate this module makes (trustme) for 127.0.0.1, through
devstack's TLS front (the embedded PostgreSQL's build has no SSL of its own; complaints_devstack.pg_tls).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import trustme
from pydantic import SecretStr
from sqlalchemy import make_url, text

from complaints_common.db import Database, connect_options, connect_raw
from complaints_common.settings import ServiceSettings
from complaints_devstack.pg_tls import TlsFront, tls_front
from complaints_devstack.testing import scratch_dir

pytestmark = pytest.mark.integration

SELECT_ONE = "SELECT 1"


class Authorities:
    def __init__(self, folder: Path) -> None:
        ca = trustme.CA()
        self.ca_file = folder / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        server = ca.issue_cert("127.0.0.1")
        self.cert, self.key = folder / "server.crt", folder / "server.key"
        self.cert.write_bytes(b"".join(c.bytes() for c in server.cert_chain_pems))
        server.private_key_pem.write_to_path(str(self.key))
        self.wrong_ca_file = folder / "wrong-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(self.wrong_ca_file))


@pytest.fixture(scope="module")
def authorities() -> Iterator[Authorities]:
    with scratch_dir("pg-certs-") as folder:
        yield Authorities(folder)


@pytest.fixture
def server(database_url: str, authorities: Authorities) -> Iterator[Server]:
    plain = make_url(database_url)
    assert plain.host is not None and plain.port is not None
    with tls_front(plain.host, plain.port, authorities.cert, authorities.key) as front:
        yield Server(
            plain.set(host="127.0.0.1", port=front.port).render_as_string(hide_password=False), front
        )


@dataclass(frozen=True)
class Server:
    """The database behind the TLS front, which serves nothing but TLS."""

    tls_url: str
    front: TlsFront

    def url(self) -> str:
        return self.tls_url


def _settings(url: str, **values: object) -> ServiceSettings:
    return ServiceSettings.model_validate({"database_url": SecretStr(url), **values})


async def _engine_uses_tls(server: Server, settings: ServiceSettings) -> bool:
    """True when the engine reached the database, over one more TLS session of the front."""
    before = server.front.handshakes
    db = Database.for_service(settings)
    try:
        async with db.engine.connect() as conn:
            answered = (await conn.execute(text(SELECT_ONE))).scalar() == 1
    finally:
        await db.dispose()
    return answered and server.front.handshakes == before + 1


async def _raw_uses_tls(server: Server, settings: ServiceSettings) -> bool:
    """True when a raw connection (relay, delivery loop) reached the database over TLS."""
    before = server.front.handshakes
    conn = await connect_raw(settings)
    try:
        answered = await conn.fetchval(SELECT_ONE) == 1
    finally:
        await conn.close()
    return answered and server.front.handshakes == before + 1


async def test_verify_full_by_url_on_both_paths(server: Server, authorities: Authorities) -> None:
    settings = _settings(f"{server.url()}?sslmode=verify-full&sslrootcert={authorities.ca_file}")
    assert await _engine_uses_tls(server, settings)
    assert await _raw_uses_tls(server, settings)


async def test_verify_full_by_settings_on_both_paths(server: Server, authorities: Authorities) -> None:
    settings = _settings(
        server.url(), database_sslmode="verify-full", database_sslrootcert=authorities.ca_file
    )
    assert await _engine_uses_tls(server, settings)
    assert await _raw_uses_tls(server, settings)


async def test_sqlalchemys_ssl_parameter_reaches_raw_connections_as_tls(server: Server) -> None:
    """`?ssl=require` (SQLAlchemy's spelling) used to reach asyncpg as a server setting `ssl`."""
    settings = _settings(f"{server.url()}?ssl=require")
    assert await _engine_uses_tls(server, settings)
    assert await _raw_uses_tls(server, settings)


async def test_a_wrong_ca_fails_on_both_paths(server: Server, authorities: Authorities) -> None:
    settings = _settings(f"{server.url()}?sslmode=verify-full&sslrootcert={authorities.wrong_ca_file}")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _engine_uses_tls(server, settings)
    with pytest.raises(ssl.SSLCertVerificationError):
        await _raw_uses_tls(server, settings)


async def test_verify_full_checks_the_host_name(server: Server, authorities: Authorities) -> None:
    """The certificate names 127.0.0.1, not localhost: verify-full refuses, verify-ca accepts."""
    url = server.url().replace("127.0.0.1", "localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _raw_uses_tls(server, _settings(f"{url}?sslmode=verify-full&sslrootcert={authorities.ca_file}"))
    assert await _raw_uses_tls(
        server, _settings(f"{url}?sslmode=verify-ca&sslrootcert={authorities.ca_file}")
    )


async def test_every_connection_has_the_session_timeouts(server: Server) -> None:
    settings = _settings(
        server.url(),
        database_statement_timeout_ms=1500,
        database_lock_timeout_ms=700,
        database_idle_in_transaction_timeout_ms=9000,
    )
    shown = (
        "SELECT concat_ws(' ', current_setting('statement_timeout'), current_setting('lock_timeout'),"
        " current_setting('idle_in_transaction_session_timeout'))"
    )
    conn = await connect_raw(settings)
    try:
        assert await conn.fetchval(shown) == "1500ms 700ms 9s"
    finally:
        await conn.close()
    db = Database.for_service(settings)
    try:
        async with db.engine.connect() as session:
            assert (await session.execute(text(shown))).scalar() == "1500ms 700ms 9s"
    finally:
        await db.dispose()
    # Migrations run without them: a long backfill is not cut short.
    migration = await connect_options(server.url(), settings, timeouts=False).connect()
    try:
        assert await migration.fetchval("SHOW statement_timeout") == "0"
    finally:
        await migration.close()


async def test_the_front_refuses_a_client_without_tls(server: Server) -> None:
    """What makes a connection through the front proof of TLS."""
    with pytest.raises((ConnectionError, asyncpg.PostgresError, OSError)):
        await _raw_uses_tls(server, _settings(f"{server.url()}?sslmode=disable"))


def test_the_tls_parameters_leave_the_dsn() -> None:
    options = connect_options("postgresql+asyncpg://u:p%40ss@h:5/db?sslmode=require&application_name=x")
    assert options.dsn == "postgresql://u:p%40ss@h:5/db?application_name=x"
    assert options.ssl == "require"


def test_the_urls_tls_parameters_win_over_the_settings(authorities: Authorities) -> None:
    settings = _settings(
        "postgresql+asyncpg://u@h:5/db?sslmode=require",
        database_sslmode="verify-full",
        database_sslrootcert=authorities.ca_file,
    )
    assert connect_options(settings.database_dsn, settings).ssl == "require"
    verified = connect_options("postgresql+asyncpg://u@h:5/db", settings).ssl
    assert isinstance(verified, ssl.SSLContext)
    assert verified.check_hostname and verified.verify_mode == ssl.CERT_REQUIRED
    # SQLAlchemy's boolean spelling.
    assert connect_options("postgresql+asyncpg://u@h:5/db?ssl=true").ssl == "require"
