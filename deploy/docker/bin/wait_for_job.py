#!/usr/bin/env python3
"""Wait until a service's migration Job has completed, then exit 0 (the pods' initContainer).

The API and worker pods do not migrate: the `<service>-migrate` Job does, once per release. This
waiter reads that Job from the Kubernetes API (a Role lets the pod `get` exactly that Job) and exits:

- 0 when the Job has completed and carries the pod's release label (`--version`, taken from the
  pod's own `app.kubernetes.io/version` label), so an older Job cannot start a newer release;
- 1 when the Job has failed, or nothing completed within `--timeout` seconds (the kubelet then
  restarts the initContainer with back-off, which shows as Init:Error / Init:CrashLoopBackOff);
- 2 when it is misconfigured (no API address, no token).

Standard library only, so it runs in the service image without extra packages. Logs are JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
VERSION_LABEL = "app.kubernetes.io/version"


def log(level: str, message: str, **fields: Any) -> None:
    record = {"level": level, "logger": "wait_for_job", "message": message, **fields}
    print(json.dumps(record, default=str), flush=True)


@dataclass(frozen=True)
class Verdict:
    done: bool
    failed: bool
    reason: str


def judge(job: dict[str, Any], expected_version: str) -> Verdict:
    """What a Job object says: completed, failed, or still to wait for."""
    labels = job.get("metadata", {}).get("labels") or {}
    version = labels.get(VERSION_LABEL, "")
    if expected_version and version != expected_version:
        return Verdict(False, False, f"the Job is for version {version!r}, not {expected_version!r}")
    status = job.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    if "Failed" in conditions:
        c = conditions["Failed"]
        return Verdict(False, True, f"the Job failed: {c.get('reason')}: {c.get('message')}")
    if "Complete" in conditions:
        return Verdict(True, False, "the Job has completed")
    completions = (job.get("spec") or {}).get("completions") or 1
    if (status.get("succeeded") or 0) >= completions and not status.get("active"):
        return Verdict(True, False, "the Job has succeeded")
    return Verdict(False, False, f"the Job is running (active={status.get('active') or 0})")


class JobReader:
    """GET /apis/batch/v1/namespaces/<ns>/jobs/<name> with the pod's service-account token."""

    def __init__(self, api_url: str, token_file: Path, ca_file: Path | None) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_file = token_file
        self.context: ssl.SSLContext | None = None
        if self.api_url.startswith("https://"):
            self.context = ssl.create_default_context(
                cafile=str(ca_file) if ca_file and ca_file.exists() else None
            )

    def get(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        path = "/apis/batch/v1/namespaces/{}/jobs/{}".format(
            urllib.parse.quote(namespace, safe=""), urllib.parse.quote(name, safe="")
        )
        # The projected token is rotated by the kubelet: read it for every request.
        token = self.token_file.read_text(encoding="utf-8").strip()
        request = urllib.request.Request(  # noqa: S310 - the URL is the cluster's API server
            self.api_url + path,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=timeout, context=self.context
            ) as response:
                body: dict[str, Any] = json.load(response)
                return body
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise


def default_api_url() -> str | None:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"https://{host}:{port}"


def default_namespace() -> str | None:
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    path = SERVICE_ACCOUNT_DIR / "namespace"
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Wait for a Kubernetes Job to complete.")
    parser.add_argument("--job", required=True, help="the Job's name, e.g. intake-migrate")
    parser.add_argument("--namespace", default=None, help="default: the pod's namespace")
    parser.add_argument(
        "--version",
        default=os.environ.get("EXPECTED_VERSION", ""),
        help=f"required value of the Job's {VERSION_LABEL} label (default: $EXPECTED_VERSION; empty: any)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after (seconds)")
    parser.add_argument("--interval", type=float, default=3.0, help="poll every (seconds)")
    parser.add_argument("--api-url", default=None, help="default: from KUBERNETES_SERVICE_HOST")
    parser.add_argument("--token-file", type=Path, default=SERVICE_ACCOUNT_DIR / "token")
    parser.add_argument("--ca-file", type=Path, default=SERVICE_ACCOUNT_DIR / "ca.crt")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    api_url = args.api_url or default_api_url()
    namespace = args.namespace or default_namespace()
    if not api_url or not namespace:
        log("ERROR", "no Kubernetes API address or namespace", api_url=api_url, namespace=namespace)
        return 2
    if not args.token_file.exists():
        log("ERROR", "no service-account token", token_file=str(args.token_file))
        return 2
    reader = JobReader(api_url, args.token_file, args.ca_file)
    deadline = time.monotonic() + args.timeout
    last_reason = ""
    while True:
        try:
            job = reader.get(namespace, args.job, timeout=min(10.0, max(args.interval, 1.0)))
            if job is None:
                verdict = Verdict(False, False, "the Job does not exist (yet)")
            else:
                verdict = judge(job, args.version)
        except (urllib.error.URLError, OSError, ValueError) as error:
            verdict = Verdict(False, False, f"cannot read the Job: {error}")
        if verdict.reason != last_reason:
            log(
                "ERROR" if verdict.failed else "INFO",
                verdict.reason,
                job=args.job,
                namespace=namespace,
                version=args.version,
            )
            last_reason = verdict.reason
        if verdict.done:
            return 0
        if verdict.failed:
            return 1
        if time.monotonic() >= deadline:
            log("ERROR", "gave up waiting", job=args.job, timeout_s=args.timeout)
            return 1
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
