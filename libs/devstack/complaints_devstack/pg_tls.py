"""A TLS front for the embedded PostgreSQL, whose build has no SSL ("SSL is not supported by this
build"): it speaks PostgreSQL's own TLS negotiation to clients and plaintext to the server behind it.

A client sends an SSLRequest; the front answers `S`, completes the TLS handshake with the
certificate it was given, and relays the session to the server on loopback. A client that does not
ask for TLS is turned away (as a `hostssl`-only server would), and a GSSAPI request is declined
(`N`), as PostgreSQL does without Kerberos. So a client's `sslmode=verify-full` meets a real
certificate check while the database it reaches is the embedded PostgreSQL itself.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from complaints_devstack.ports import LOCALHOST, forward

# PostgreSQL's negotiation codes (protocol 3.0, "SSLRequest" and "GSSENCRequest").
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
_HANDSHAKE_TIMEOUT_S = 10.0


class TlsFront:
    def __init__(self, context: ssl.SSLContext, upstream_host: str, upstream_port: int) -> None:
        self.context = context
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        # TLS sessions completed: a client that connected through the front did so over TLS.
        self.handshakes = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_HANDSHAKE_TIMEOUT_S):
                if not await self._negotiate(reader, writer):
                    writer.close()
                    return
                await writer.start_tls(self.context)
                self.handshakes += 1
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            writer.close()
            return
        await asyncio.gather(forward(reader, upstream_writer), forward(upstream_reader, writer))

    @staticmethod
    async def _negotiate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """True once the client asked for TLS and was told yes."""
        while True:
            length, code = struct.unpack(">ii", await reader.readexactly(8))
            if length == 8 and code == GSSENC_REQUEST:
                writer.write(b"N")
                await writer.drain()
                continue
            if length == 8 and code == SSL_REQUEST:
                writer.write(b"S")
                await writer.drain()
                return True
            return False  # a plaintext start-up: this front serves TLS only


@contextmanager
def tls_front(upstream_host: str, upstream_port: int, cert_chain: Path, key: Path) -> Iterator[TlsFront]:
    """Serve TLS for the PostgreSQL at upstream_host:upstream_port on a free loopback port
    (`front.port`), from a thread of its own, until the block ends."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert_chain), str(key))
    front = TlsFront(context, upstream_host, upstream_port)
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(front.serve, LOCALHOST, 0))
    thread = threading.Thread(target=loop.run_forever, name="pg-tls-front", daemon=True)
    thread.start()
    front.port = int(server.sockets[0].getsockname()[1])
    try:
        yield front
    finally:
        asyncio.run_coroutine_threadsafe(_shut_down(server), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _shut_down(server: asyncio.Server) -> None:
    """Stop accepting and end the sessions still relayed, so the loop closes with nothing pending."""
    server.close()
    sessions = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in sessions:
        task.cancel()
    await asyncio.gather(*sessions, return_exceptions=True)
