"""An idle keep-alive connection outlives a client's pool expiry: a CRM's pooled connection is not
closed under its next request (uvicorn's own 5 s raced with httpx's 5 s expiry, and the chaos
suite's POSTs met `RemoteProtocolError`)."""

from __future__ import annotations

import asyncio
import http.client
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from complaints_devstack.broker import EmbeddedBroker

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# Longer than httpx's default keep-alive expiry (5 s) and uvicorn's default keep-alive (5 s).
IDLE_S = 6.0


def _status_twice_on_one_connection(url: str) -> tuple[int, int]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        statuses = []
        for pause in (0.0, IDLE_S):
            time.sleep(pause)
            connection.request("GET", "/healthz")  # http.client raises if the server had closed it
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        return statuses[0], statuses[1]
    finally:
        connection.close()


async def test_an_idle_connection_is_kept_longer_than_a_clients_pool_expiry(
    intake_without_broker: tuple[Any, EmbeddedBroker],
) -> None:
    stack, _ = intake_without_broker
    stack.start("intake-api")
    await stack.wait_ready("intake-api", timeout=60)
    first, after_idle = await asyncio.to_thread(_status_twice_on_one_connection, stack.url("intake-api"))
    assert (first, after_idle) == (200, 200)
