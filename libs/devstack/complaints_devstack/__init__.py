"""Embedded PostgreSQL and Kafka-protocol broker for local runs and tests, and `complaints-dev`."""

from complaints_devstack.broker import EmbeddedBroker, EmbeddedBrokerError, create_topics
from complaints_devstack.ports import free_port
from complaints_devstack.postgres import EmbeddedPostgres, EmbeddedPostgresError

__all__ = [
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "create_topics",
    "free_port",
]
