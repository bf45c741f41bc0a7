#!/usr/bin/env python3
"""Container health check: GET http://127.0.0.1:<port><path>, exit 0 on HTTP 200, else 1.

The port is `<SERVICE>_HTTP_PORT` (SERVICE is baked into the image), 8080 if unset. Docker's
HEALTHCHECK uses /healthz (liveness); Compose's depends_on uses /readyz (database and broker
reachable). Kubernetes ignores HEALTHCHECK and uses its own probes. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def port_from_env() -> int:
    service = os.environ.get("SERVICE", "").upper()
    value = os.environ.get(f"{service}_HTTP_PORT", "") if service else ""
    return int(value) if value.isdigit() else 8080


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--path", default="/healthz", help="/healthz or /readyz")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    url = f"http://127.0.0.1:{args.port or port_from_env()}{args.path}"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
