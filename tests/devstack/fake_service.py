"""A stand-in for a complaints service, for launcher tests: `fake_service.py NAME migrate|serve`.

`migrate` records its environment in $FAKE_MARKER_DIR/NAME.migrate.json, sleeps
$FAKE_MIGRATE_SLEEP seconds and exits with $FAKE_MIGRATE_EXIT (default 0). `serve` records its
environment in NAME.serve.json, answers
GET /readyz on $<NAME>_HTTP_PORT (503 until $FAKE_READY_DELAY seconds passed), exits 0 on
SIGTERM, and exits 3 after $FAKE_<NAME>_DIE_AFTER seconds if that is set.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def record(name: str, step: str) -> None:
    marker_dir = os.environ.get("FAKE_MARKER_DIR")
    if marker_dir:
        env = {k: v for k, v in os.environ.items() if k.startswith((name.upper() + "_", "OTEL_"))}
        Path(marker_dir, f"{name}.{step}.json").write_text(json.dumps(env))


def serve(name: str) -> None:
    prefix = name.upper() + "_"
    ready_at = time.monotonic() + float(os.environ.get("FAKE_READY_DELAY", "0"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/readyz" and time.monotonic() >= ready_at
            self.send_response(200 if ok else 503)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ[prefix + "HTTP_PORT"])), Handler)

    def on_sigterm(signum: int, frame: object) -> None:
        print(f"fake {name}: SIGTERM, shutting down", flush=True)
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    die_after = os.environ.get(f"FAKE_{prefix}DIE_AFTER")
    if die_after:
        threading.Timer(float(die_after), lambda: os._exit(3)).start()
    record(name, "serve")
    print(f"fake {name}: listening", flush=True)
    server.serve_forever()
    print(f"fake {name}: stopped cleanly", flush=True)


def main() -> None:
    name, step = sys.argv[1], sys.argv[2]
    if step == "migrate":
        record(name, "migrate")
        time.sleep(float(os.environ.get("FAKE_MIGRATE_SLEEP", "0")))
        print(f"fake {name}: migrated", flush=True)
        sys.exit(int(os.environ.get("FAKE_MIGRATE_EXIT", "0")))
    serve(name)


if __name__ == "__main__":
    main()
