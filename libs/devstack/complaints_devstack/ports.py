"""Local TCP ports: pick a free one, tell whether something already listens on one, and forward
a stream (the test proxies in front of PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

LOCALHOST = "127.0.0.1"


def free_port(host: str = LOCALHOST) -> int:
    """A port the OS reports free right now (another process may still take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = LOCALHOST, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


async def forward(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: Callable[[], float] = lambda: 0.0
) -> None:
    """Copy `reader` to `writer` until either side closes, waiting `delay_s()` before each chunk;
    then close `writer`."""
    try:
        while data := await reader.read(65536):
            if (delay := delay_s()) > 0:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()
