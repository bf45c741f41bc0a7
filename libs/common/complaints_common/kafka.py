"""Kafka clients configured one way for every service.

Production is Apache Kafka: the producer is idempotent with `acks=all` and consumers use Kafka's
fetch wait. Which broker answers is read from its ApiVersions when a client is made, so the same
code runs unchanged on the embedded Tansu broker, which answers `InitProducerId` with an error and
holds every fetch open for its whole wait. A setting given explicitly always wins.

Every client (producer, consumers, the dead-letter replayer, the broker probe) is made here, with
the service's `kafka_security` (TLS with the broker's certificate verified, SASL/SCRAM or mTLS):
there is no other way to reach the broker, so none can forget the credentials.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

from complaints_common.settings import KafkaSecurity, ServiceSettings

# ApiVersions keys only Apache Kafka's KRaft brokers serve (DescribeQuorum, ConsumerGroupHeartbeat).
_KRAFT_API_KEYS = frozenset({55, 68})
# Tansu holds a fetch open for the whole wait: at aiokafka's 500 ms default that is ~200 ms a hop.
_TANSU_FETCH_MAX_WAIT_MS = 25
_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class BrokerProfile:
    """What the broker behind the bootstrap servers can do, as the clients need to know it."""

    apache_kafka: bool

    def idempotent(self, settings: ServiceSettings) -> bool:
        configured = settings.kafka_idempotent_producer
        return self.apache_kafka if configured is None else configured

    def fetch_max_wait_ms(self, settings: ServiceSettings) -> int:
        configured = settings.kafka_fetch_max_wait_ms
        if configured is not None:
            return configured
        # Kafka answers a fetch as soon as a record arrives, so its default costs no latency.
        return 500 if self.apache_kafka else _TANSU_FETCH_MAX_WAIT_MS


def tls_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context of every client: the broker's certificate and host name verified against the
    configured CA (never switched off), and the client certificate for mTLS. None for PLAINTEXT."""
    if security.protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(
        cafile=str(security.ca_file) if security.ca_file is not None else None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if security.cert_file is not None and security.key_file is not None:
        context.load_cert_chain(str(security.cert_file), str(security.key_file))
    return context


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """The connection options every aiokafka client (producer, consumer, admin) takes."""
    security = settings.kafka_security
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": security.protocol,
        "ssl_context": tls_context(security),
    }
    if security.protocol == "SASL_SSL":
        assert security.sasl_password is not None  # KafkaSecurity refuses SASL_SSL without one
        options |= {
            "sasl_mechanism": security.sasl_mechanism,
            "sasl_plain_username": security.sasl_username,
            "sasl_plain_password": security.sasl_password.get_secret_value(),
        }
    return options


async def broker_profile(bootstrap_servers: str, security: KafkaSecurity | None = None) -> BrokerProfile:
    """Ask the first bootstrap server that answers for its ApiVersions (v0, which every broker
    serves, before any SASL handshake). When none answers, assume production (Apache Kafka): the
    client will retry anyway."""
    return await probe_broker(bootstrap_servers, security) or BrokerProfile(apache_kafka=True)


async def probe_broker(bootstrap_servers: str, security: KafkaSecurity | None = None) -> BrokerProfile | None:
    """The profile of the first bootstrap server that answers; None when none does."""
    context = tls_context(security or KafkaSecurity())
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            keys = await asyncio.wait_for(_api_keys(host.strip("[]"), int(port), context), _PROBE_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, struct.error, asyncio.IncompleteReadError):
            continue
        return BrokerProfile(apache_kafka=bool(keys & _KRAFT_API_KEYS))
    return None


async def _api_keys(host: str, port: int, context: ssl.SSLContext | None) -> set[int]:
    correlation_id = 1
    client_id = b"complaints-probe"
    request = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        writer.write(struct.pack(">i", len(request)) + request)
        await writer.drain()
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        payload = await reader.readexactly(size)
    finally:
        writer.close()
    answered_id, _error, count = struct.unpack_from(">ihi", payload, 0)
    if answered_id != correlation_id:
        raise ValueError("ApiVersions answer with a foreign correlation id")
    return {struct.unpack_from(">h", payload, 10 + 6 * i)[0] for i in range(count)}


async def new_producer(settings: ServiceSettings, profile: BrokerProfile | None = None) -> AIOKafkaProducer:
    """acks=all so a published outbox row survives a broker failover; idempotent on Apache Kafka, so
    a retried send after a lost answer is not written twice (and per-partition order holds)."""
    profile = profile or await broker_profile(settings.kafka_bootstrap_servers, settings.kafka_security)
    return AIOKafkaProducer(
        **client_options(settings),
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=profile.idempotent(settings),
        request_timeout_ms=settings.kafka_request_timeout_ms,
        linger_ms=0,
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
    )


async def new_consumer(
    settings: ServiceSettings,
    group: str,
    topics: list[str],
    listener: ConsumerRebalanceListener | None = None,
) -> AIOKafkaConsumer:
    """Offsets are committed by hand, only after the database commit of the messages' effects;
    `listener` is told of each rebalance (the consumer runner commits what it owes then)."""
    profile = await broker_profile(settings.kafka_bootstrap_servers, settings.kafka_security)
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        client_id=f"{settings.service_name}-{group}",
        group_id=settings.topic_prefix + group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        request_timeout_ms=max(settings.kafka_request_timeout_ms, settings.kafka_session_timeout_ms),
        max_poll_records=settings.consumer_batch_size,
        max_partition_fetch_bytes=settings.kafka_max_partition_fetch_bytes,
        fetch_max_wait_ms=profile.fetch_max_wait_ms(settings),
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
    )
    consumer.subscribe(topics, listener=listener)
    return consumer
