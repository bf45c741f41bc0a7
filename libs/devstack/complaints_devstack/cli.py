"""The `complaints-dev` command: `run` (the whole platform) and `up-infra` (PostgreSQL + broker)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from complaints_common.identity import ROLES
from complaints_devstack import kafka
from complaints_devstack.issuer import DevIssuer
from complaints_devstack.journey import journey_report
from complaints_devstack.launcher import LaunchConfig, Launcher


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="complaints-dev",
        description="Run the complaint-handling platform locally with embedded PostgreSQL and Kafka.",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path(".run"),
        help="state directory: pgdata/, logs/, pids/ (default: .run)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start PostgreSQL, the broker and the four services")
    commands.add_parser("up-infra", help="start only PostgreSQL, the broker and the topics")
    commands.add_parser(
        "install-kafka",
        help="resolve Apache Kafka's jars with Maven and format its storage template, once (make install)",
    )
    journey = commands.add_parser("journey", help="print a complaint's journey from the local spans")
    journey.add_argument("complaint_id")
    journey.add_argument("--all", action="store_true", help="also show every database round trip")
    token = commands.add_parser("token", help="mint a bearer token from the local (development) issuer")
    token.add_argument("--tenant", required=True, help="the CRM client (the token's client_id claim)")
    token.add_argument("--sub", required=True, help="the person (agent, supervisor...) id")
    token.add_argument("--role", default="agent", choices=ROLES, help="the person's role (default agent)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="complaints-dev: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per readiness poll otherwise
    if args.command == "install-kafka":
        return _install_kafka()
    config = LaunchConfig.from_env(run_dir=args.run_dir)
    if args.command == "token":
        print(DevIssuer(config.issuer_dir).token(args.tenant, args.sub, args.role, ttl_s=args.ttl))
        return 0
    if args.command == "journey":
        print(journey_report(config.spans_dir, args.complaint_id, include_noise=args.all))
        return 0
    launcher = Launcher(config)
    if args.command == "up-infra":
        return launcher.up_infra()
    return launcher.run()


def _install_kafka() -> int:
    """Where Java and Maven exist, fetch what Apache Kafka needs now, so tests and runs are offline;
    elsewhere say in one line why not (Tansu serves instead) and succeed."""
    if kafka.installed():
        return 0  # every make target runs this: no JVM start when there is nothing to do
    reason = kafka.unavailable_reason()
    if reason is not None:
        print(f"complaints-dev: Apache Kafka not installed ({reason}); Tansu serves instead")
        return 0
    try:
        libs = kafka.kafka_libs()
        kafka.storage_template(kafka.NODE_IDS, libs)
    except (kafka.KafkaUnavailableError, kafka.KafkaClusterError) as exc:
        print(f"complaints-dev: Apache Kafka not installed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
