"""Benchmark: messages per second to a local SMTP server, and complaint.created -> SMTP accepted.

    .venv/bin/python -m benchmarks.smtp_delivery --messages 1000 --paced 300 --rate 50

Runs the notifications service in this process (consumer, delivery loop, relay) on real PostgreSQL
and Kafka (the URLs given, else the embedded servers of complaints_devstack), an aiosmtpd server in
a thread, and publishes complaint.created events straight to the topic. Two phases:

- burst: all messages published at once; throughput = messages / (last accepted - first published);
- paced: a steady rate well under capacity; the latency of each message from its publication to
  the SMTP server's acceptance (p50, p95, p99), i.e. the platform's share of "within a minute".

Needs the dev dependency group (aiosmtpd, complaints-devstack).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import text as sql

from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_common.events.envelope import Event, encode_event
from complaints_common.events.topics import all_topics_with_dead_letters
from complaints_devstack.broker import EmbeddedBroker, create_topics
from complaints_devstack.factories import complaint_created
from complaints_devstack.ports import free_port
from complaints_devstack.postgres import EmbeddedPostgres
from complaints_devstack.service_testing import running_service, test_settings
from complaints_devstack.testing import create_database, unique_database_name, unique_topic_prefix
from complaints_notifications.main import SERVICE
from complaints_notifications.settings import NotificationSettings


class Arrivals:
    """The SMTP server's side: when each recipient's message was accepted."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        to = str(message_from_bytes(envelope.content)["To"])
        with self.lock:
            self.at.setdefault(to, now)
        return "250 OK"


def complaint(i: int, run: str) -> Event[ComplaintCreatedV1]:
    contact = {"email": f"{run}-{i}@example.com", "language": "en"}
    return complaint_created(
        customer_id=f"C{i}", client="bench", contact=contact, reference=f"B-{run}-{i}", severity="low"
    )


async def publish(app: Any, event: Event[Any]) -> None:
    runtime = app.state.runtime
    record = encode_event(event)
    await runtime.producer.send(
        runtime.settings.topic(event.contract.topic.name),
        value=record.value,
        key=record.key,
        headers=record.headers,
    )


async def wait_for(arrivals: Arrivals, addresses: list[str], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with arrivals.lock:
            if all(a in arrivals.at for a in addresses):
                return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{sum(a in arrivals.at for a in addresses)}/{len(addresses)} messages arrived")


async def print_stages(app: Any) -> None:
    """Where the burst's time went: the consumer composing and queueing, or the delivery loop."""
    async with app.state.runtime.db.transaction() as session:
        row = (
            await session.execute(
                sql(
                    "SELECT extract(epoch FROM max(created_at) - min(created_at)) AS queueing, "
                    "extract(epoch FROM max(sent_at) - min(created_at)) AS sending, "
                    "avg(attempts) AS attempts FROM notifications.messages WHERE recipient LIKE 'burst-%'"
                )
            )
        ).one()
    print(
        f"  consumer queued the burst over {row.queueing:.2f} s; last sent {row.sending:.2f} s after the "
        f"first was queued; {row.attempts:.2f} attempts per message"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace, database_url: str, bootstrap: str) -> None:
    prefix = unique_topic_prefix()
    await create_topics(bootstrap, all_topics_with_dead_letters(), prefix=prefix)
    arrivals = Arrivals()
    controller = Controller(arrivals, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = test_settings(
        NotificationSettings,
        database_url,
        bootstrap,
        prefix,
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        smtp_security="plaintext",
        delivery_poll_interval_s=0.5,
    )
    try:
        async with running_service(SERVICE, settings) as (app, _):
            await publish(app, complaint(0, "warmup"))
            await wait_for(arrivals, ["warmup-0@example.com"], 60)

            burst = [complaint(i, "burst") for i in range(args.messages)]
            started = time.monotonic()
            for event in burst:
                await publish(app, event)
            await app.state.runtime.producer.flush()
            addresses = [f"burst-{i}@example.com" for i in range(args.messages)]
            await wait_for(arrivals, addresses, 600)
            took = max(arrivals.at[a] for a in addresses) - started
            print(f"burst: {args.messages} messages in {took:.2f} s = {args.messages / took:.0f} messages/s")
            await print_stages(app)

            sent_at: dict[str, float] = {}
            for i in range(args.paced):
                sent_at[f"paced-{i}@example.com"] = time.monotonic()
                await publish(app, complaint(i, "paced"))
                await app.state.runtime.producer.flush()
                await asyncio.sleep(1 / args.rate)
            await wait_for(arrivals, list(sent_at), 120)
            latencies = [(arrivals.at[a] - t) * 1000 for a, t in sent_at.items()]
            print(
                f"paced at {args.rate}/s, {args.paced} messages: complaint.created -> SMTP accepted "
                f"p50 {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 95):.0f} ms, "
                f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms"
            )
    finally:
        controller.stop()


async def main_async(args: argparse.Namespace) -> None:
    with ExitStack() as servers:
        pg_url, bootstrap = args.database_url, args.kafka
        if not pg_url:
            data_dir = Path(servers.enter_context(tempfile.TemporaryDirectory())) / "pgdata"
            pg = servers.enter_context(EmbeddedPostgres(data_dir, free_port(), settings={"fsync": "off"}))
            pg_url = pg.url("postgres")
        if not bootstrap:
            bootstrap = servers.enter_context(EmbeddedBroker(free_port())).bootstrap_servers
        database_url = await create_database(pg_url, unique_database_name("bench_"))
        await run(args, database_url, bootstrap)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000, help="messages in the burst")
    parser.add_argument("--paced", type=int, default=300, help="messages in the paced phase")
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second in the paced phase")
    parser.add_argument("--database-url", help="a postgresql+asyncpg URL where a database may be created")
    parser.add_argument("--kafka", help="host:port of a Kafka-protocol broker")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
