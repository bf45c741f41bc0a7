"""A TCP proxy between the services and PostgreSQL that can delay every chunk it forwards.

Runs its own event loop in a daemon thread, so a blocking call in the chaos script (a subprocess,
a PostgreSQL restart) never stalls the services' database traffic. `delay_s` may be changed at any
time; 0 forwards at once.
"""

from __future__ import annotations

import asyncio
import threading

from complaints_devstack.ports import LOCALHOST, forward, free_port


class DelayProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.delay_s = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="db-delay-proxy")

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the database proxy did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._connection, LOCALHOST, self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(LOCALHOST, self.target_port)
        except OSError:
            client_w.close()  # PostgreSQL is down (a restart fault): the client sees a refused session
            return
        delay = lambda: self.delay_s  # noqa: E731 - read on every chunk: the chaos script changes it
        await asyncio.gather(forward(client_r, server_w, delay), forward(server_r, client_w, delay))
