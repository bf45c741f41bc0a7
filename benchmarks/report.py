"""Markdown for docs/benchmarks: the figures of results.json and chaos.json as tables."""

from __future__ import annotations

from typing import Any


def _machine(m: dict[str, Any]) -> list[str]:
    return [
        "| machine | |",
        "| --- | --- |",
        f"| CPU | {m['cpus']} x {m['cpu_model']} |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| OS | {m['os']} |",
        f"| Python | {m['python']} |",
        f"| date (UTC) | {m['date']} |",
        f"| load average at start | {', '.join(str(x) for x in m['load_average_at_start'])} |",
        "",
    ]


def _v(value: Any) -> str:
    return "n/a" if value is None else str(value)


BROKER_LABELS = {
    "tansu": "Tansu (embedded, memory only, one node)",
    "kafka": "Apache Kafka (three KRaft nodes, replication 3, min.insync.replicas 2, idempotent acks=all)",
}


def bench_markdown(results: dict[str, Any]) -> str:
    """Every broker's run, the key figures side by side first."""
    runs: dict[str, dict[str, Any]] = results["brokers"]
    first = next(iter(runs.values()))
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`.venv/bin/python -m benchmarks --broker tansu|kafka|both`); the raw",
        "figures are in [results.json](results.json). Each broker's run starts its own embedded stack",
        "(PostgreSQL 18, the broker, the four services as subprocesses) on this machine, one after the",
        "other in the same invocation; the load generators run on it too. What limits the figures,",
        "measured with a profiler: [limits.md](limits.md) and `make profile`.",
        "",
    ]
    if first.get("quick"):
        lines += ["**Quick smoke run (`--quick`): a few seconds per part, not figures to quote.**", ""]
    lines += _machine(first["machine"])
    if len(runs) > 1:
        lines += _side_by_side(runs)
    for kind, r in runs.items():
        broker = r.get("broker", {})
        started = broker.get("start_s")
        lines += [
            f"## On {BROKER_LABELS.get(kind, kind)}",
            "",
            f"Broker: {broker.get('name', kind)} {broker.get('version', '')}".rstrip()
            + (f", started in {started} s." if started is not None else "."),
            "",
            *_bench_broker(r),
        ]
    lines += [f"Wall clock of the whole run: {results.get('wall_clock_s', 'n/a')} s.", ""]
    return "\n".join(lines)


def _side_by_side(runs: dict[str, dict[str, Any]]) -> list[str]:
    kinds = list(runs)
    lines = [
        "## Side by side",
        "",
        "| figure | " + " | ".join(kinds) + " |",
        "| --- |" + " --- |" * len(kinds),
    ]

    def row(label: str, pick: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(_v(pick(runs[k])) for k in kinds) + " |")

    row("intake requests/s (64 connections)", lambda r: r["throughput"]["intake"]["requests_per_s"])
    row("intake POST p99 ms (64 connections)", lambda r: r["throughput"]["intake"]["p99_ms"])
    row("highest sustained complaints/s", lambda r: r["end_to_end"]["highest_sustained_per_s"])
    offered = [row_["offered_per_s"] for row_ in runs[kinds[0]]["end_to_end"]["loads"]]
    for rate in offered:

        def granted(r: dict[str, Any], rate: int = rate) -> str | None:
            load = next((x for x in r["end_to_end"]["loads"] if x["offered_per_s"] == rate), None)
            if load is None or "skipped" in load:
                return None
            g = load["post_to_compensation_granted"]
            return f"{_v(g['p50_ms'])} / {_v(g['p99_ms'])}"

        row(f"POST -> granted p50 / p99 ms at {rate}/s", granted)

    def broker_cpu(r: dict[str, Any]) -> float | None:
        res = r["resources_at_highest_sustained"]
        cpu = [
            v["cpu_percent_of_one_core"]
            for k, v in res.items()
            if isinstance(v, dict) and k.startswith(("broker", "kafka-"))
        ]
        return round(sum(cpu), 1) if cpu else None

    row("broker CPU % of a core at the highest sustained load (all nodes)", broker_cpu)
    return [*lines, ""]


def _bench_broker(r: dict[str, Any]) -> list[str]:
    """One broker's run: its tables, under level-3 headings."""
    t = r["throughput"]
    e = r["end_to_end"]
    lines: list[str] = []
    lines += [
        f"### Intake against a bare baseline ({t['concurrency']} connections, {t['seconds']:.0f} s, locust)",
        "",
        "The baseline (`benchmarks/baseline_app.py`) is FastAPI validating a complaint-shaped body and",
        "inserting one row with asyncpg, under the same uvicorn settings. Intake runs alone (its events",
        "on topics of their own), with authentication, idempotency, the outbox and its relay.",
        "",
        "| endpoint | requests/s | p50 ms | p90 ms | p99 ms | failures "
        "| server CPU % of a core | server PSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("baseline", "intake"):
        s = t[name]
        srv = s.get("server", {})
        lines.append(
            f"| {name} | {s['requests_per_s']} | {s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} | "
            f"{s['failures']} | {_v(srv.get('cpu_percent_of_one_core'))} | {_v(srv.get('pss_peak_mib'))} |"
        )
    verdict = "meets" if t["meets_goal"] else "misses"
    lines += [
        "",
        f"**Ratio intake/baseline: {t['ratio']}** ({verdict} the goal of >= {t['goal_ratio']}).",
        "",
    ]
    lines += [
        "### End-to-end latency at steady offered loads",
        "",
        "Open-loop generator (`benchmarks/openloop.py`); bodies from the CFPB sample.",
        f"Latency: {e['latency_measured_as']}.",
        f"POST -> acknowledgement at the SMTP server: {e['smtp']}.",
        "The steps go on while the platform keeps up (no errors, every complaint granted within the",
        "drain time, a median under the goal); a step that keeps up but misses the p99 goal does not",
        "end the run. The highest sustained load is the highest step with a p99 within the goal.",
        "",
        "| offered/s | accepted | errors | POST p50/p99 ms | to granted p50 ms | p90 ms | p99 ms "
        "| not granted | sustained (p99 <= 250 ms) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in e["loads"]:
        if "skipped" in row:
            lines.append(f"| {row['offered_per_s']} | not run: {row['skipped']} | | | | | | | |")
            continue
        g, p = row["post_to_compensation_granted"], row["post_response"]
        errors = ", ".join(f"{k}: {v}" for k, v in row["errors"].items()) or "0"
        lines.append(
            f"| {row['offered_per_s']} | {row['accepted']}/{row['offered']} | {errors} | "
            f"{_v(p['p50_ms'])}/{_v(p['p99_ms'])} | "
            f"{_v(g['p50_ms'])} | {_v(g['p90_ms'])} | {_v(g['p99_ms'])} | "
            f"{row['not_granted_within_drain']} | {'yes' if row['sustained'] else 'no'} |"
        )
    if any("post_to_smtp_acknowledgement" in row for row in e["loads"]):
        lines += [
            "",
            "| offered/s | to SMTP acknowledgement p50 ms | p90 ms | p99 ms |",
            "| --- | --- | --- | --- |",
        ]
        for row in e["loads"]:
            if "skipped" in row:
                continue
            a = row.get("post_to_smtp_acknowledgement", {})
            lines.append(
                f"| {row['offered_per_s']} | {_v(a.get('p50_ms'))} | "
                f"{_v(a.get('p90_ms'))} | {_v(a.get('p99_ms'))} |"
            )
    lines += ["", f"**Highest sustained load: {_v(e['highest_sustained_per_s'])} complaints/s.**", ""]
    res = r["resources_at_highest_sustained"]
    lines += [
        f"### CPU and memory per process at {res['offered_per_s']} complaints/s",
        "",
        "| process | CPU % of one core (mean) | memory (PSS) peak MiB | PSS mean MiB |",
        "| --- | --- | --- | --- |",
    ]
    for name, s in res.items():
        if isinstance(s, dict):
            lines.append(
                f"| {name} | {s['cpu_percent_of_one_core']} | {s['pss_peak_mib']} | {s['pss_mean_mib']} |"
            )
    lines += ["", f"Wall clock of this broker's run: {r.get('wall_clock_s', 'n/a')} s.", ""]
    return lines


def chaos_markdown(r: dict[str, Any]) -> str:
    kind = r.get("broker", "tansu")
    command, name = (
        ("make chaos", "chaos") if kind == "tansu" else (f"make chaos BROKER={kind}", f"chaos-{kind}")
    )
    lines = [
        "# Fault injection",
        "",
        f"Written by `{command}` (`.venv/bin/python -m benchmarks.chaos --broker {kind}`);",
        f"raw figures in [{name}.json]({name}.json). Each fault hits the embedded stack under a steady",
        f"open-loop load of {r['rate_per_s']:.0f} complaints/s "
        f"({r['timing']['load_before_fault_s']} s of load before it,",
        f"{r['timing']['load_after_s']} s after, the fault included). After",
        "a settle period the invariants are checked in the services' own tables for every complaint intake",
        "accepted (201) in that window: in intake, acknowledged exactly once, one automatic compensation,",
        "a satisfaction follow-up for each granted one; and the dead-letter topics are read.",
        "'In flight' counts the complaints accepted from one second before the fault on; 'complete",
        "after' is how long after the load ended every accepted complaint had all its effects; 'backlog",
        "drained after' is when, besides, every consumer group had caught up and every outbox was sent",
        "(the next fault starts only then, so that each is measured on its own).",
        "",
    ]
    if r.get("quick"):
        lines += ["**Quick smoke run (`--quick`): two short faults, not figures to quote.**", ""]
    broker = BROKER_LABELS.get(kind, kind)
    if r.get("kafka_version"):
        broker = broker.replace("Apache Kafka", f"Apache Kafka {r['kafka_version']}")
    lines += [
        f"Broker: {broker}; {r.get('replicas_per_service', 1)} process(es) of every service"
        + (" in its consumer groups. No service is paused around any fault." if kind == "kafka" else "."),
        "",
    ]
    lines += _machine(r["machine"])
    lines += [
        "| fault | accepted | POSTs refused/failed | in flight | complete after | backlog drained after "
        "| lost | duplicated | dead letters (cumulative) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["faults"]:
        refused = ", ".join(f"{k}: {v}" for k, v in row["refused_or_failed_posts"].items()) or "0"
        lines.append(
            f"| {row['fault']} | {row['accepted']} | {refused} | {row['in_flight']} | "
            f"{row.get('complete_after_load_s', 'n/a')} s | {row.get('backlog_drained_after_s', 'n/a')} s | "
            f"{row['lost']} | "
            f"{row['duplicated']} | {row['dead_letters_total']} |"
        )
    lines += [
        "",
        f"**Total: {r['total_lost']} lost, {r['total_duplicated']} duplicated, "
        f"{r['dead_letters_total']} dead letters** (goal: 0, 0, 0).",
        "",
        "What each fault did:",
        "",
    ]
    lines += [f"- {row['fault']}: {row['what_happened']}; checks {row['checks']}" for row in r["faults"]]
    lines += ["", f"Wall clock of the whole run: {r.get('wall_clock_s', 'n/a')} s.", ""]
    return "\n".join(lines)


def profile_markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Where a complaint's CPU goes",
        "",
        "Written by `make profile` (`.venv/bin/python -m benchmarks.profile`); raw figures in",
        f"[profile.json](profile.json). The embedded stack at {r['offered_per_s']:g} complaints/s for",
        f"{r['seconds']:g} s ({r['accepted']} accepted); py-spy sampled each service during a second",
        "window of the same load, so that its own cost stays out of the CPU figures.",
        "",
        *_machine(r["machine"]),
        "| process | idle CPU % of a core | CPU ms per complaint (above idle) |",
        "| --- | --- | --- |",
    ]
    idle, busy = r["idle_cpu_percent_of_one_core"], r["cpu_ms_per_complaint_above_idle"]
    skipped = {(c["service"], c["topic"]): c["messages"] for c in r.get("skipped_by_type_per_complaint", [])}
    lines += [f"| {name} | {idle[name]} | {busy[name]} |" for name in busy]
    lines += [
        f"| **all** | {round(sum(idle.values()), 1)} | {round(sum(busy.values()), 1)} |",
        "",
        "Database work per complaint (pg_stat_database): "
        + ", ".join(f"{k} {v}" for k, v in r["database_per_complaint"].items())
        + "."
        + (
            f" Idle, the processes commit {r['idle_transactions_per_s']} transactions a second (their"
            f" polls); above that, {r['transactions_per_complaint_above_idle']} per complaint."
            if "idle_transactions_per_s" in r
            else ""
        ),
        "",
        f"Messages handled per complaint: {_messages(r['consumed_per_complaint'])}; records of other "
        f"services' event types skipped by their ce_type header, undecoded: "
        f"{_messages(r.get('skipped_by_type_per_complaint', []))}.",
        "",
        "| service | consumes | messages per complaint handled | skipped by type |",
        "| --- | --- | --- | --- |",
        *(
            f"| {c['service']} | {c['topic']} | {c['messages']} | {_skipped(skipped, c)} |"
            for c in r["consumed_per_complaint"]
        ),
        "",
    ]
    for service, spots in r["hot_spots"].items():
        lines += [
            f"## {service} ({spots['busy_samples']} busy samples)",
            "",
            "Leaf frames by package: "
            + ", ".join(f"{name} {share}%" for name, share in spots["leaf_by_package"][:8])
            + ".",
            "",
            "| own function (inclusive) | % of busy samples |",
            "| --- | --- |",
            *(f"| `{name}` | {share} |" for name, share in spots["own_functions"]),
            "",
        ]
    return "\n".join(lines)


def _messages(rows: list[dict[str, Any]]) -> float:
    return round(sum(float(row["messages"]) for row in rows), 2)


def _skipped(skipped: dict[tuple[str, str], float], row: dict[str, Any]) -> float:
    return skipped.get((row["service"], row["topic"]), 0)
