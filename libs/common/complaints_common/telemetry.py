"""OpenTelemetry and logging setup: one call per process.

Exporters follow the standard variables: OTEL_TRACES_EXPORTER (otlp, console, none; comma-separated;
default otlp) with OTEL_EXPORTER_OTLP_* for the endpoint. A spans file (settings.spans_file) can be
added for the laptop stack, where no collector runs: the journey view reads it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import aiokafka
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from pythonjsonlogger.json import JsonFormatter

_configured = False
_tracer = trace.get_tracer(__name__)


def current_trace_context() -> dict[str, str]:
    """The W3C trace context current now, to store with work done later (a timer, a delivery), so
    that the later work continues the complaint's trace instead of starting one of its own."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def continued_trace(
    name: str, stored: Mapping[str, str] | None, attributes: Mapping[str, str | int] | None = None
) -> Iterator[trace.Span]:
    """A span, current while the block runs, that continues a trace stored by `current_trace_context`:
    the events the block writes carry that trace."""
    with _tracer.start_as_current_span(
        name, context=propagate.extract(dict(stored or {})), attributes=dict(attributes or {})
    ) as span:
        yield span


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to a file, one JSON object a line (the journey view's input)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(span_record(span)) + "\n" for span in spans]
        with self._lock:
            self._file.writelines(lines)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


def span_record(span: ReadableSpan) -> dict[str, object]:
    ctx = span.get_span_context()
    assert ctx is not None
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get("service.name"),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {k: v for k, v in (span.attributes or {}).items() if isinstance(v, str | int)},
    }


def _exporters(spans_file: Path | None) -> list[SpanExporter]:
    names = {n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    exporters: list[SpanExporter] = []
    if "otlp" in names:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter())
    if "console" in names:
        exporters.append(ConsoleSpanExporter(out=sys.stderr))
    if spans_file is not None:
        exporters.append(JsonLinesSpanExporter(spans_file))
    return exporters


def setup_telemetry(
    service_name: str, spans_file: Path | None = None, trace_statements: bool = False
) -> None:
    """Tracer provider, exporters and library instrumentation; idempotent within a process.

    The provider samples as the standard `OTEL_TRACES_SAMPLER` (and `OTEL_TRACES_SAMPLER_ARG`) say,
    e.g. `parentbased_traceidratio` with `0.1` to keep a tenth of the journeys whole."""
    global _configured
    if _configured or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return  # the standard switch: no provider, no instrumentation, no cost
    _configured = True
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    for exporter in _exporters(spans_file):
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    trace.set_tracer_provider(provider)
    # The standard switch for instrumentations (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=aiokafka) wins
    # over trace_statements.
    disabled = {n.strip() for n in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    if trace_statements and "asyncpg" not in disabled:
        AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    if "aiokafka" not in disabled:
        AIOKafkaInstrumentor().instrument(tracer_provider=provider)
        # Its producer side makes the "send" spans whose context the records carry; its consumer
        # side is taken off again: one span per message processed (the consumer's own "<topic>
        # process", in the trace the headers carry). Its poll, per-partition and per-record
        # "receive" spans cost about as much again per record and say nothing more.
        unwrap(aiokafka.AIOKafkaConsumer, "getone")
        unwrap(aiokafka.AIOKafkaConsumer, "getmany")


def shutdown_telemetry() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


class TraceContextFilter(logging.Filter):
    """Adds the current trace and span ids to every log record, so logs join their trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else None
        record.span_id = f"{ctx.span_id:016x}" if ctx.is_valid else None
        return True


def setup_logging(service_name: str, level: str = "INFO") -> None:
    """JSON logs on stdout. Log messages name ids and outcomes, never a customer's personal data."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service_name},
        )
    )
    handler.addFilter(TraceContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
