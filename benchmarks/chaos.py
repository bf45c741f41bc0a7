"""`make chaos`: faults under a steady load, then the invariants checked from the services' own data.

One embedded stack (PostgreSQL behind a delay proxy, a broker, the four services as subprocesses).
`--broker tansu` (the default): the Tansu broker, one process per service. `--broker kafka`: a
three-node Apache Kafka cluster (topics replicated 3 ways, min.insync.replicas 2) and two replicas
of every service in its consumer groups, with the broker faults a real cluster has (the leader of
the busiest partitions killed, the active controller killed, a rolling restart, one replica of each
service killed during a rebalance) and no pausing of the services around any fault.

For each fault: a steady open-loop load of complaints starts, the fault hits, the load goes on for
a while, then the platform gets time to settle and the invariants are checked against every
complaint intake accepted (a 201) during that fault's window:

- every accepted complaint is in intake and acknowledged exactly once (notifications.messages,
  kind 'acknowledgement');
- at most one automatic compensation per complaint, and one for each (compensation.decisions);
- a satisfaction follow-up scheduled for every complaint whose compensation was granted
  (followup.followups, kind 'satisfaction_check');
- nothing in any dead-letter topic (every complaint the load sends is valid).

Then the next fault waits until every consumer group has caught up and every outbox is sent, so
that no fault is measured on the backlog its predecessor left.

Writes docs/benchmarks/chaos.json and docs/benchmarks/chaos.md. `--quick` runs two short faults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks import report
from benchmarks.complaints import ROOT, bodies
from benchmarks.measure import machine
from benchmarks.openloop import LoadResult, offer_load
from benchmarks.proxy import DelayProxy
from benchmarks.stack import SERVICES, Stack, run_directory
from complaints_common.consumer import LAG_INTERVAL_S
from complaints_common.db import asyncpg_dsn
from complaints_common.events.topics import TOPICS, all_topics_with_dead_letters
from complaints_devstack import kafka
from complaints_devstack.broker import EmbeddedBroker
from complaints_devstack.ports import LOCALHOST

RATE = 30.0
SLOW_DB_DELAY_S = 0.05
BROKER_DOWN_S = 2.0
BROKER_OUTAGE_S = 60.0
KAFKA_NODE_DOWN_S = 5.0
KAFKA_REPLICAS = 2
IN_SYNC_TIMEOUT_S = 60.0
# The longest wait for a fault's invariants: the check returns as soon as they hold, so this only
# matters on a machine so loaded that recovery takes long (30 s was once too short at load 28).
SETTLE_S = 120.0
# After a fault's invariants hold, the platform may still be working through what the fault left
# behind (e.g. the sends and messages of the minute's complaints a broker outage held back). The next
# fault starts only once every consumer group has caught up and every outbox is sent, so each fault
# is measured on its own, not on its predecessor's backlog; this bounds that wait.
DRAIN_S = 600.0
DRAIN_POLL_S = 2.0
_LAG = re.compile(r"^complaints_consumer_lag_messages\{[^}]*\} (\S+)$", re.M)

Fault = Callable[["Chaos"], Awaitable[str]]


@dataclass(frozen=True)
class Timing:
    before_s: float  # load before the fault hits
    after_s: float  # load after it (the fault's own duration included)
    settle_s: float  # longest wait for the invariants to hold


class Chaos:
    """The stack under test plus what the faults need."""

    def __init__(self, stack: Stack, proxy: DelayProxy) -> None:
        self.stack = stack
        self.proxy = proxy
        self.dlq_seen: dict[str, int] = {}

    async def kill_and_restart(self, *services: str) -> str:
        for service in services:
            self.stack.kill(service)
        await asyncio.sleep(1.0)  # down for a moment while the load goes on
        for service in services:
            self.stack.start(service)
        await asyncio.gather(*(asyncio.to_thread(self.stack.wait_ready, s) for s in services))
        return f"kill -9 {', '.join(services)}, restarted after 1 s"

    async def restart_broker(self, down_s: float = BROKER_DOWN_S) -> str:
        """The broker dies and comes back empty; the operator re-creates the topics and re-publishes.

        Apache Kafka keeps its topics over a restart and runs without auto-creation; the embedded
        broker forgets them and auto-creates a topic (with 4 partitions, not ours) on the first
        produce. A relay retrying its batch would win that race within milliseconds, and records
        sent by a producer still holding the old partition count land in partitions no consumer
        is assigned. So the services are paused (SIGSTOP) for the moment the topics take to be
        re-created, as if the broker had come back with them; they see the outage itself.
        """
        assert isinstance(self.stack.broker, EmbeddedBroker)
        await self.read_dead_letters()  # the restart forgets them
        since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        await asyncio.to_thread(self.stack.broker.kill)
        await asyncio.sleep(down_s)
        self.stack.pause_services()
        try:
            await asyncio.to_thread(self.stack.broker.start)
            await asyncio.to_thread(self.stack.create_topics)
        finally:
            self.stack.resume_services()
        notes = [await asyncio.to_thread(self.stack.republish, s, since) for s in SERVICES]
        return (
            f"broker killed, down for {down_s:.0f} s, started empty (memory only), topics "
            f"re-created while the services were paused (SIGSTOP), republish since {since}: "
            + "; ".join(f"{s}: {n}" for s, n in zip(SERVICES, notes, strict=True))
        )

    async def broker_outage(self) -> str:
        """The broker unreachable for a minute under load. Intake's API needs only its database, so
        it answers 201 throughout; what it accepts waits in the outbox and flows once the broker is
        back. On Tansu the broker comes back empty (as `restart_broker`); on Apache Kafka every
        node is killed and started again with its data."""
        if isinstance(self.stack.broker, EmbeddedBroker):
            return await self.restart_broker(down_s=BROKER_OUTAGE_S)
        nodes = list(self.cluster.nodes)
        for node_id in nodes:
            await asyncio.to_thread(self.cluster.kill_node, node_id)
        await asyncio.sleep(BROKER_OUTAGE_S)
        await asyncio.to_thread(self.cluster.start_nodes, nodes)
        in_sync_after = await self._fully_replicated()
        return (
            f"kill -9 of all {len(nodes)} nodes, down for {BROKER_OUTAGE_S:.0f} s, started again with "
            f"their data; all replicas in sync {in_sync_after:.1f} s after the start"
        )

    @property
    def cluster(self) -> kafka.EmbeddedKafkaCluster:
        assert isinstance(self.stack.broker, kafka.EmbeddedKafkaCluster)
        return self.stack.broker

    async def _partition_leaders(self) -> dict[int, int]:
        """How many partitions of the platform's event topics each node leads."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            described = await admin.describe_topics([t.name for t in TOPICS])
        finally:
            await admin.close()
        led: dict[int, int] = {}
        for topic in described:
            for partition in topic["partitions"]:
                led[partition["leader"]] = led.get(partition["leader"], 0) + 1
        return led

    async def _fully_replicated(self) -> float:
        """Wait (up to a minute) until every partition has all its replicas in sync again; the
        seconds it took."""
        started = time.monotonic()
        names = [t.name for t in all_topics_with_dead_letters()]
        while time.monotonic() - started < IN_SYNC_TIMEOUT_S:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.bootstrap, request_timeout_ms=5000)
            try:
                await admin.start()
                described = await admin.describe_topics(names)
                if all(len(p["isr"]) == len(p["replicas"]) for t in described for p in t["partitions"]):
                    break
            except Exception:  # noqa: S110 - a node is still coming back; ask again
                pass
            finally:
                await admin.close()
            await asyncio.sleep(0.5)
        return time.monotonic() - started

    async def _kill_node_and_back(self, node_id: int) -> float:
        await asyncio.to_thread(self.cluster.kill_node, node_id)
        await asyncio.sleep(KAFKA_NODE_DOWN_S)
        await asyncio.to_thread(self.cluster.start_node, node_id)
        return await self._fully_replicated()

    async def kill_busiest_leader(self) -> str:
        led = await self._partition_leaders()
        node_id = max(led, key=lambda n: led[n])
        in_sync_after = await self._kill_node_and_back(node_id)
        return (
            f"kill -9 node {node_id}, leader of {led[node_id]} of the event topics' partitions "
            f"(leaders: {led}); started again after {KAFKA_NODE_DOWN_S:.0f} s; all replicas in sync "
            f"{in_sync_after:.1f} s after its start"
        )

    async def kill_controller(self) -> str:
        ports = [node.port for node in self.cluster.nodes.values()]
        leader = next((q for q in (kafka.quorum_leader(LOCALHOST, p) for p in ports) if q), None)
        assert leader is not None, "no node named the quorum's leader"
        in_sync_after = await self._kill_node_and_back(leader)
        new_leader = next((q for q in (kafka.quorum_leader(LOCALHOST, p) for p in ports) if q), None)
        return (
            f"kill -9 node {leader}, the active controller (quorum leader, DescribeQuorum); "
            f"started again after {KAFKA_NODE_DOWN_S:.0f} s; controller now node {new_leader}; "
            f"all replicas in sync {in_sync_after:.1f} s after its start"
        )

    async def rolling_restart(self) -> str:
        """As an operator rolls a cluster: one node at a time, the next only when all is in sync."""
        waits = []
        for node_id in list(self.cluster.nodes):
            await asyncio.to_thread(self.cluster.restart_node, node_id)
            waits.append(await self._fully_replicated())
        return "controlled restart of nodes 1, 2, 3 in turn, each after all replicas were in sync " + (
            f"(in sync {', '.join(f'{w:.1f}' for w in waits)} s after each start)"
        )

    async def kill_replicas_during_rebalance(self) -> str:
        """One replica of every service is killed with kill -9 while its groups rebalance, and the
        other stays up throughout. For each service at once: the second replica restarts cleanly
        (it leaves its groups, then joins them again); the moment it serves HTTP its consumers are
        joining (ready only once they hold partitions, which it is asked), and the first replica is
        killed then, started again after 1 s. So intake always has a replica taking complaints, and
        the groups move every partition to the second replica once the killed member's session
        has timed out."""

        async def rebalance_and_kill(service: str) -> bool:
            second = f"{service}-2"
            await asyncio.to_thread(self.stack.stop, second)
            self.stack.start(second)
            await asyncio.to_thread(self.stack.wait_answering, second)
            joining = not await asyncio.to_thread(self.stack.answers, second, "/readyz")
            self.stack.kill(service)
            await asyncio.sleep(1.0)
            self.stack.start(service)
            return joining

        joining = await asyncio.gather(*(rebalance_and_kill(s) for s in SERVICES))
        await asyncio.gather(*(asyncio.to_thread(self.stack.wait_ready, i) for i in self.stack.instances()))
        still_joining = [s for s, j in zip(SERVICES, joining, strict=True) if j]
        return (
            "for every service: the second replica restarted cleanly (its groups rebalance) and, as soon "
            "as it served HTTP, the first replica was killed with kill -9 and started again after 1 s; "
            f"the second replica stayed up; its consumers were still joining at the kill in "
            f"{len(still_joining)} of {len(SERVICES)} services ({', '.join(still_joining) or 'none'})"
        )

    async def restart_postgres(self) -> str:
        assert self.stack.postgres is not None
        await asyncio.to_thread(self.stack.postgres.restart)
        return "PostgreSQL stopped (fast shutdown) and started again"

    async def slow_database(self) -> str:
        self.proxy.delay_s = SLOW_DB_DELAY_S
        try:
            await asyncio.sleep(8)
        finally:
            self.proxy.delay_s = 0.0
        return (
            f"every chunk to and from PostgreSQL delayed by {SLOW_DB_DELAY_S * 1000:.0f} ms each way for 8 s"
        )

    async def backlog(self) -> int:
        """Records the services' consumer groups have not committed yet (each replica's own lag
        gauge, which it reads from the broker every 10 s), plus unsent outbox rows."""
        rows = 0
        conn = await asyncpg.connect(asyncpg_dsn(self.stack.database_url))
        try:
            for schema in SERVICES:  # our own schema names
                unsent = f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"  # noqa: S608
                rows += await conn.fetchval(unsent)
        finally:
            await conn.close()
        async with httpx.AsyncClient(timeout=5) as client:
            for instance in self.stack.instances():
                text = (await client.get(self.stack.url(instance) + "/metrics")).text
                rows += sum(int(float(value)) for value in _LAG.findall(text))
        return rows

    async def drain(self, seconds: float = DRAIN_S) -> float:
        """Wait until nothing is left to consume or send (or the time is up); how long it took."""
        started = time.monotonic()
        quiet_since: float | None = None
        while time.monotonic() - started < seconds:
            with contextlib.suppress(OSError, asyncpg.PostgresError, httpx.HTTPError):
                if await self.backlog() > 0:
                    quiet_since = None
                elif quiet_since is None:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > LAG_INTERVAL_S:  # a fresh reading of every gauge
                    break
            await asyncio.sleep(DRAIN_POLL_S)
        return time.monotonic() - started

    async def read_dead_letters(self) -> dict[str, int]:
        """Count the messages in every .dlq topic (cumulative: the broker restart forgets them)."""
        names = [t.name for t in all_topics_with_dead_letters() if t.name.endswith(".dlq")]
        consumer = AIOKafkaConsumer(bootstrap_servers=self.stack.bootstrap, request_timeout_ms=5000)
        await consumer.start()
        try:
            # Metadata for every topic first: a consumer with no subscription knows of none on
            # Apache Kafka (Tansu answered an empty metadata request with all its topics, so
            # without this the dead letters would go uncounted on Kafka).
            await consumer.topics()
            for name in names:
                partitions = consumer.partitions_for_topic(name) or set()
                tps = [TopicPartition(name, p) for p in partitions]
                if not tps:
                    continue
                ends = await consumer.end_offsets(tps)
                starts = await consumer.beginning_offsets(tps)
                count = sum(ends[tp] - starts[tp] for tp in tps)
                self.dlq_seen[name] = max(self.dlq_seen.get(name, 0), count)
        finally:
            await consumer.stop()
        return dict(self.dlq_seen)


SERVICE_FAULTS: list[tuple[str, Fault]] = [
    *[(f"kill -9 {s}", lambda c, s=s: c.kill_and_restart(s)) for s in SERVICES],
    ("kill -9 compensation + notifications", lambda c: c.kill_and_restart("compensation", "notifications")),
    ("kill -9 intake + followup", lambda c: c.kill_and_restart("intake", "followup")),
]
DATABASE_FAULTS: list[tuple[str, Fault]] = [
    ("PostgreSQL restart", lambda c: c.restart_postgres()),
    ("slow database (+50 ms)", lambda c: c.slow_database()),
]
BROKER_OUTAGE = (f"broker down {BROKER_OUTAGE_S:.0f} s", lambda c: c.broker_outage())
FAULTS: dict[str, list[tuple[str, Fault]]] = {
    "tansu": [
        *SERVICE_FAULTS,
        ("broker restart", lambda c: c.restart_broker()),
        BROKER_OUTAGE,
        *DATABASE_FAULTS,
    ],
    "kafka": [
        *[(f"{name} (one of {KAFKA_REPLICAS} replicas)", fault) for name, fault in SERVICE_FAULTS],
        ("kill -9 the leader of the busiest partitions", lambda c: c.kill_busiest_leader()),
        ("kill -9 the active controller", lambda c: c.kill_controller()),
        ("rolling restart of the three brokers", lambda c: c.rolling_restart()),
        (
            "kill -9 one replica of each service during a rebalance",
            lambda c: c.kill_replicas_during_rebalance(),
        ),
        BROKER_OUTAGE,
        *DATABASE_FAULTS,
    ],
}
# A fault that lasts longer than the usual load gets a load that outlasts it.
FAULT_TIMINGS: dict[str, Timing] = {
    # The minute's backlog (and the re-publish after Tansu's empty restart) takes minutes to drain
    # on a shared 2-core machine.
    BROKER_OUTAGE[0]: Timing(before_s=3, after_s=BROKER_OUTAGE_S + 15, settle_s=360),
}


# -- invariants -----------------------------------------------------------------------------------


INVARIANTS_SQL = """
WITH accepted(id) AS (SELECT unnest($1::uuid[]))
SELECT
  (SELECT count(*) FROM accepted a WHERE NOT EXISTS
     (SELECT 1 FROM intake.complaints c WHERE c.id = a.id)) AS not_in_intake,
  (SELECT count(*) FROM accepted a WHERE NOT EXISTS
     (SELECT 1 FROM notifications.messages m WHERE m.complaint_id = a.id AND m.kind = 'acknowledgement'))
     AS not_acknowledged,
  (SELECT count(*) FROM (SELECT m.complaint_id FROM notifications.messages m
     JOIN accepted a ON a.id = m.complaint_id WHERE m.kind = 'acknowledgement'
     GROUP BY m.complaint_id HAVING count(*) > 1) d) AS acknowledged_twice,
  (SELECT count(*) FROM accepted a WHERE NOT EXISTS
     (SELECT 1 FROM compensation.decisions d WHERE d.complaint_id = a.id)) AS no_decision,
  (SELECT count(*) FROM (SELECT d.complaint_id FROM compensation.decisions d
     JOIN accepted a ON a.id = d.complaint_id WHERE d.granted_by = 'auto'
     GROUP BY d.complaint_id HAVING count(*) > 1) d) AS compensated_twice,
  (SELECT count(*) FROM compensation.decisions d JOIN accepted a ON a.id = d.complaint_id
     WHERE d.status = 'granted') AS granted,
  (SELECT count(*) FROM compensation.decisions d JOIN accepted a ON a.id = d.complaint_id
     WHERE d.status = 'granted' AND NOT EXISTS
     (SELECT 1 FROM followup.followups f
      WHERE f.complaint_id = d.complaint_id AND f.kind = 'satisfaction_check')) AS settled_without_followup,
  (SELECT count(*) FROM (SELECT f.complaint_id FROM followup.followups f
     JOIN accepted a ON a.id = f.complaint_id WHERE f.kind = 'satisfaction_check' AND f.attempt = 1
     GROUP BY f.complaint_id HAVING count(*) > 1) d) AS followup_twice
"""
LOST = ("not_in_intake", "not_acknowledged", "no_decision", "settled_without_followup")
DUPLICATED = ("acknowledged_twice", "compensated_twice", "followup_twice")


async def check(database_url: str, accepted: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await conn.fetchrow(INVARIANTS_SQL, accepted)
    finally:
        await conn.close()
    assert row is not None
    return {key: int(value) for key, value in row.items()}


async def settle(database_url: str, accepted: list[str], seconds: float) -> tuple[dict[str, int], float]:
    """Wait until nothing is missing any more (or the time is up); the last check, and how long
    after the load ended everything was complete (the time is up: the whole wait)."""
    started = time.monotonic()
    deadline = started + seconds
    while True:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            found = await check(database_url, accepted)
            if not any(found[k] for k in LOST) or time.monotonic() > deadline:
                complete_after = time.monotonic() - started
                await asyncio.sleep(1.0)  # late redeliveries land before duplicates are counted
                return await check(database_url, accepted), complete_after
        await asyncio.sleep(0.5)


# -- one fault under load ---------------------------------------------------------------------------


async def run_fault(chaos: Chaos, name: str, fault: Fault, timing: Timing) -> dict[str, Any]:
    print(f"chaos: {name}")
    async with chaos.stack.intake_client() as client:
        load = asyncio.create_task(offer_load(client, RATE, timing.before_s + timing.after_s, bodies()))
        await asyncio.sleep(timing.before_s)
        hit_at = time.time()
        what = await fault(chaos)
        result: LoadResult = await load
    in_flight = [s for s in result.accepted if s.sent_at >= hit_at - 1.0]
    accepted = [s.complaint_id for s in result.accepted]
    found, complete_after = await settle(chaos.stack.database_url, accepted, timing.settle_s)
    dlq = await chaos.read_dead_letters()
    drained_after = await chaos.drain()
    row = {
        "fault": name,
        "what_happened": what,
        "offered": result.offered,
        "accepted": len(accepted),
        "refused_or_failed_posts": result.errors,
        "in_flight": len(in_flight),
        "lost": sum(found[k] for k in LOST),
        "duplicated": sum(found[k] for k in DUPLICATED),
        "checks": found,
        "complete_after_load_s": round(complete_after, 1),
        "backlog_drained_after_s": round(complete_after + drained_after, 1),
        "dead_letters_total": sum(dlq.values()),
    }
    print(
        f"chaos: {name}: accepted {row['accepted']}, in flight {row['in_flight']}, "
        f"lost {row['lost']}, duplicated {row['duplicated']}, dead letters {row['dead_letters_total']}"
    )
    return row


async def run_all(chaos: Chaos, faults: list[tuple[str, Fault]], timing: Timing) -> list[dict[str, Any]]:
    return [await run_fault(chaos, name, fault, FAULT_TIMINGS.get(name, timing)) for name, fault in faults]


def run(quick: bool, workdir: Path, only: list[str] | None = None, broker: str = "tansu") -> dict[str, Any]:
    timing = Timing(2, 4, 30) if quick else Timing(before_s=3, after_s=8, settle_s=SETTLE_S)
    candidates = FAULTS[broker]
    faults = [candidates[1], candidates[-1]] if quick else candidates
    if only:
        faults = [(name, fault) for name, fault in candidates if any(word in name for word in only)]
    stack = Stack(workdir, broker_kind=broker, replicas=KAFKA_REPLICAS if broker == "kafka" else 1)
    proxy: DelayProxy | None = None
    try:
        print(f"chaos: starting the embedded stack in {workdir}")
        stack.start_infra()
        assert stack.postgres is not None
        proxy = DelayProxy(stack.postgres.port)
        proxy.start()
        stack.service_database_url = stack.database_url.replace(f":{stack.postgres.port}/", f":{proxy.port}/")
        for service in SERVICES:
            stack.migrate(service)
        stack.start_services()
        rows = asyncio.run(run_all(Chaos(stack, proxy), faults, timing))
    finally:
        stack.close()
        if proxy is not None:
            proxy.stop()
    dlq_total = rows[-1]["dead_letters_total"] if rows else 0
    return {
        "machine": machine(),
        "quick": quick,
        "broker": broker,
        "kafka_version": kafka.kafka_version() if broker == "kafka" else None,
        "replicas_per_service": stack.replicas,
        "rate_per_s": RATE,
        "timing": {"load_before_fault_s": timing.before_s, "load_after_s": timing.after_s},
        "faults": rows,
        "total_lost": sum(r["lost"] for r in rows),
        "total_duplicated": sum(r["duplicated"] for r in rows),
        "dead_letters_total": dlq_total,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two short faults: a smoke test")
    parser.add_argument(
        "--only",
        action="append",
        metavar="WORD",
        help="run only the faults whose name holds WORD (repeatable)",
    )
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="tansu")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it (logs, data)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.broker == "kafka" and (reason := kafka.unavailable_reason()) is not None:
        raise SystemExit(f"chaos: Apache Kafka cannot run here: {reason}")
    with run_directory(args.keep, "complaints-chaos-") as directory:
        results = run(args.quick, directory, args.only, args.broker)
    results["wall_clock_s"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    # The Tansu run keeps its report; the Kafka run writes one beside it.
    name = "chaos" if args.broker == "tansu" else f"chaos-{args.broker}"
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(report.chaos_markdown(results))
    print(
        f"chaos: done in {results['wall_clock_s']} s: lost {results['total_lost']}, "
        f"duplicated {results['total_duplicated']}, dead letters {results['dead_letters_total']}"
    )
    return (
        0 if results["total_lost"] == results["total_duplicated"] == results["dead_letters_total"] == 0 else 1
    )


if __name__ == "__main__":
    raise SystemExit(main())
