"""Every Kafka client the platform builds connects to Apache Kafka over TLS, with SCRAM-SHA-512 and
with mTLS, verifying the broker's certificate: a wrong CA or a wrong password is refused.

One dedicated single-node cluster (complaints_devstack.kafka with `secure=`) serves a SASL_SSL and an
mTLS listener, with certificates this module makes (trustme); the session's clusters stay plaintext.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from cryptography.hazmat.primitives import serialization

from complaints_common import kafka as common_kafka
from complaints_common.dlq import replay_dead_letters
from complaints_common.kafka import client_options, new_consumer, new_producer, tls_context
from complaints_common.settings import KafkaSecurity, ServiceSettings
from complaints_devstack import kafka
from complaints_devstack.testing import brokers_under_test, scratch_dir

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        "kafka" not in brokers_under_test(os.environ)[0], reason="Apache Kafka is not under test"
    ),
]

SCRAM_USER = "intake"
SCRAM_PASSWORD = "scram-test-secret"
GROUP = "intake"


class Certificates:
    """A CA, the broker's certificate for 127.0.0.1 and a client certificate, as PEM files."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = folder / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        # Kafka's PEM keystore wants the key as unencrypted PKCS#8, then the certificate chain.
        self.keystore = folder / "broker.pem"
        self.keystore.write_bytes(
            _pkcs8(server.private_key_pem.bytes()) + b"".join(c.bytes() for c in server.cert_chain_pems)
        )
        client = self.ca.issue_cert("intake.complaints.svc")
        self.client_cert = folder / "client.crt"
        self.client_key = folder / "client.key"
        client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        client.private_key_pem.write_to_path(str(self.client_key))
        # Another CA, which signed nothing the broker serves.
        self.wrong_ca_file = folder / "wrong-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(self.wrong_ca_file))


def _pkcs8(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def certificates() -> Iterator[Certificates]:
    with scratch_dir("kafka-certs-") as folder:
        yield Certificates(folder)


@pytest.fixture(scope="module")
def secured(certificates: Certificates) -> Iterator[kafka.EmbeddedKafkaCluster]:
    secure = kafka.SecureListeners(
        keystore=certificates.keystore,
        truststore=certificates.ca_file,
        scram_users={SCRAM_USER: SCRAM_PASSWORD},
    )
    with (
        scratch_dir("kafka-secure-") as workdir,
        kafka.EmbeddedKafkaCluster(
            workdir, nodes=1, java_opts=kafka.TEST_JAVA_OPTS, secure=secure
        ) as cluster,
    ):
        yield cluster


def _scram(cluster: kafka.EmbeddedKafkaCluster, ca: Path, password: str = SCRAM_PASSWORD) -> ServiceSettings:
    security = KafkaSecurity(
        protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=SCRAM_USER,
        sasl_password=password,
        ca_file=ca,
    )
    return _settings(cluster.scram_bootstrap_servers, security, "scram-")


def _mtls(cluster: kafka.EmbeddedKafkaCluster, certs: Certificates, ca: Path) -> ServiceSettings:
    security = KafkaSecurity(
        protocol="SSL", ca_file=ca, cert_file=certs.client_cert, key_file=certs.client_key
    )
    return _settings(cluster.mtls_bootstrap_servers, security, "mtls-")


def _settings(bootstrap: str, security: KafkaSecurity, prefix: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="intake",
        kafka_bootstrap_servers=bootstrap,
        kafka_security=security,
        topic_prefix=prefix,
        kafka_request_timeout_ms=5000,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=300,
    )


@pytest.fixture(params=["scram", "mtls"])
def settings(
    request: pytest.FixtureRequest, secured: kafka.EmbeddedKafkaCluster, certificates: Certificates
) -> ServiceSettings:
    if request.param == "scram":
        return _scram(secured, certificates.ca_file)
    return _mtls(secured, certificates, certificates.ca_file)


async def test_every_client_connects_over_tls(settings: ServiceSettings) -> None:
    """The broker probe, the admin client, the producer (the relay's and the readiness check's),
    the consumer and the dead-letter replayer all talk to the secured listener."""
    server = settings.kafka_bootstrap_servers.split(",")[0]
    host, _, port = server.rpartition(":")
    keys = await common_kafka._api_keys(host, int(port), tls_context(settings.kafka_security))
    assert keys & common_kafka._KRAFT_API_KEYS, "the probe over TLS read Apache Kafka's ApiVersions"

    topic, dead_letters = settings.topic("secure.events"), settings.topic("secure.events.dlq")
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in (topic, dead_letters)])
    finally:
        await admin.close()

    producer = await new_producer(settings)
    await producer.start()
    try:
        await producer.client.fetch_all_metadata()  # what the readiness check asks
        await producer.send_and_wait(topic, b"first", key=b"c-1")
        parked = [("dlq_consumer_group", GROUP.encode()), ("dlq_original_topic", topic.encode())]
        await producer.send_and_wait(dead_letters, b"parked", key=b"c-2", headers=parked)
    finally:
        await producer.stop()

    assert await replay_dead_letters(settings, GROUP, "secure.events.dlq") == 1

    consumer = await new_consumer(settings, GROUP, [topic])
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while len(values) < 2:
                batch = await consumer.getmany(timeout_ms=1000)
                values += [r.value for records in batch.values() for r in records if r.value]
        await consumer.commit()
    finally:
        await consumer.stop()
    assert sorted(values) == [b"first", b"parked"]


@pytest.mark.parametrize("listener", ["scram", "mtls"])
async def test_a_wrong_ca_is_refused(
    listener: str, secured: kafka.EmbeddedKafkaCluster, certificates: Certificates
) -> None:
    """The broker's certificate is verified: a client that trusts another CA does not connect."""
    wrong = certificates.wrong_ca_file
    settings = _scram(secured, wrong) if listener == "scram" else _mtls(secured, certificates, wrong)
    producer = await new_producer(settings)
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()


async def test_a_wrong_scram_password_is_refused(
    secured: kafka.EmbeddedKafkaCluster, certificates: Certificates
) -> None:
    producer = await new_producer(_scram(secured, certificates.ca_file, password="not-the-password"))
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()


async def test_the_mtls_listener_refuses_a_client_without_a_certificate(
    secured: kafka.EmbeddedKafkaCluster, certificates: Certificates
) -> None:
    security = KafkaSecurity(protocol="SSL", ca_file=certificates.ca_file)
    producer = await new_producer(_settings(secured.mtls_bootstrap_servers, security, "anon-"))
    with pytest.raises(KafkaError):
        await producer.start()
    await producer.stop()
