"""Kafka clients configured one way for every service."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from complaints_common.settings import ServiceSettings


def new_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """acks=all so a published outbox row survives a broker failover; idempotence where supported."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=settings.kafka_idempotent_producer,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        linger_ms=0,
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
    )


def new_consumer(settings: ServiceSettings, group: str, topics: list[str]) -> AIOKafkaConsumer:
    """Offsets are committed by hand, only after the database commit of the messages' effects."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-{group}",
        group_id=settings.topic_prefix + group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        request_timeout_ms=max(settings.kafka_request_timeout_ms, settings.kafka_session_timeout_ms),
        max_poll_records=settings.consumer_batch_size,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
    )
