"""Telemetry's cost switches: no span per statement unless asked, one span per message consumed,
sampling from the standard variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import sys
import aiokafka
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from complaints_common.telemetry import setup_telemetry
setup_telemetry("probe", trace_statements=sys.argv[1] == "true")
sampler = trace.get_tracer_provider().sampler
print(AsyncPGInstrumentor().is_instrumented_by_opentelemetry, sampler.get_description())
traced = (aiokafka.AIOKafkaProducer.send, aiokafka.AIOKafkaConsumer.getmany, aiokafka.AIOKafkaConsumer.getone)
print(*[hasattr(f, "__wrapped__") for f in traced])
"""


def probe(trace_statements: bool, **env: str) -> str:
    environment = {**os.environ, "OTEL_TRACES_EXPORTER": "none", **env}
    environment.pop("OTEL_SDK_DISABLED", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(trace_statements).lower()],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


@pytest.mark.parametrize(("trace_statements", "instrumented"), [(False, "False"), (True, "True")])
def test_a_span_per_statement_only_when_asked(trace_statements: bool, instrumented: str) -> None:
    assert probe(trace_statements).split(" ", 1)[0] == instrumented


def test_sampling_follows_otel_traces_sampler() -> None:
    described = probe(False, OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1")
    assert "TraceIdRatioBased{0.1}" in described


def test_the_producer_is_traced_and_the_consumer_only_by_its_process_span() -> None:
    # send spans carry the trace into the records; the library's receive spans are not made.
    assert probe(False).splitlines()[1] == "True False False"
