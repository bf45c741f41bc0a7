"""Delivery you can prove, in-process on real PostgreSQL, Kafka, an SMTP server and an HTTP provider:
the message arrives in the customer's language, once, threaded; failures are retried with backoff,
dead-lettered, replayed; CRM webhooks are signed and keep their id across retries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text as sql

from complaints_common.events.contracts import (
    CompensationGrantedV1,
    ComplaintCreatedV1,
    ComplaintStatusChangedV1,
    FollowupDueV1,
)
from complaints_common.events.envelope import (
    COMPENSATION_GRANTED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    FOLLOWUP_DUE_V1,
    Event,
    encode_event,
)
from complaints_devstack.factories import complaint_created
from complaints_devstack.polling import eventually
from complaints_devstack.service_testing import bearer, running_service
from complaints_devstack.service_testing import test_settings as service_settings
from complaints_notifications.main import SERVICE
from complaints_notifications.settings import NotificationSettings

pytestmark = pytest.mark.integration

SECRET_OLD = "whsec_" + base64.b64encode(b"old-secret-of-crm-test-32-bytes!").decode()
SECRET_NEW = "whsec_" + base64.b64encode(b"new-secret-of-crm-test-32-bytes!").decode()


@asynccontextmanager
async def notifications(
    database_url: str, kafka_bootstrap: str, topics: str, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = service_settings(
        NotificationSettings,
        database_url,
        kafka_bootstrap,
        topics,
        delivery_poll_interval_s=0.2,
        delivery_backoff_base_s=0.05,
        delivery_backoff_max_s=0.2,
        delivery_max_attempts=3,
        sms_quiet_start="00:00",
        sms_quiet_end="00:00",
        **overrides,
    )
    async with running_service(SERVICE, settings) as running:
        yield running


async def publish(app: FastAPI, *events: Event[Any]) -> None:
    runtime = app.state.runtime
    for event in events:
        record = encode_event(event)
        await runtime.producer.send_and_wait(
            runtime.settings.topic(event.contract.topic.name),
            value=record.value,
            key=record.key,
            headers=record.headers,
        )


def created(complaint_id: UUID, confidential: bool = False, **customer: Any) -> Event[ComplaintCreatedV1]:
    contact = {"name": "Ivan Petrov", "email": None, **customer}
    return complaint_created(
        complaint_id,
        "CUST-9",
        contact=contact,
        source="/complaints/intake",
        confidential=confidential,
        reference="CMP-TEST-0001",
        agent_id=None,
    )


def granted(complaint_id: UUID) -> Event[CompensationGrantedV1]:
    data = CompensationGrantedV1.model_validate(
        {
            "complaint_id": complaint_id,
            "decision_id": uuid4(),
            "customer_id": "CUST-9",
            "offer": {
                "kind": "coupon",
                "description": "A coupon for your next order",
                "value": {"amount": "15.00", "currency": "EUR"},
                "cost": {"amount": "5.00", "currency": "EUR"},
            },
            "voucher_code": "SORRY-ABCD-1234",
            "voucher_expires_at": "2027-01-31T00:00:00Z",
            "rule_id": "r1",
            "policy_version": "1",
            "granted_by": "auto",
            "granted_at": datetime.now(UTC),
        }
    )
    return Event(COMPENSATION_GRANTED_V1, data, "/complaints/compensation")


async def messages(client: httpx.AsyncClient, complaint_id: UUID) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/complaints/{complaint_id}/deliveries")
    if response.status_code == 404:
        return []  # nothing recorded for the complaint yet
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_email_in_the_customers_language_once_threaded_with_the_voucher(
    database_url: str, kafka_bootstrap: str, topics: str, smtp_server: Any
) -> None:
    complaint_id = uuid4()
    mail = smtp_server.smtp_settings()
    async with notifications(database_url, kafka_bootstrap, topics, **mail) as (app, client):
        acknowledgement = created(complaint_id, email="ivan@example.com", language="ru")
        await publish(app, acknowledgement)
        assert await eventually(lambda: _received(smtp_server, 1)), "no acknowledgement arrived"
        first = smtp_server.received[0]
        assert first["To"] == "ivan@example.com" and first["Content-Language"] == "ru"
        assert "Спасибо" in first["Subject"]
        text = first.get_body(("plain",)).get_content()
        assert "Здравствуйте, Ivan Petrov!" in text and "CMP-TEST-0001" in text
        assert 'lang="ru"' in first.get_body(("html",)).get_content()

        # The same event again (a redelivery), then the compensation.
        await publish(app, acknowledgement, granted(complaint_id))
        assert await eventually(lambda: _received(smtp_server, 2))
        await asyncio.sleep(0.5)
        assert len(smtp_server.received) == 2, "a redelivered event was sent twice"
        second = smtp_server.received[1]
        assert "SORRY-ABCD-1234" in second.get_body(("plain",)).get_content()
        assert second["In-Reply-To"] == first["Message-ID"] and second["References"] == first["Message-ID"]

        log = await messages(client, complaint_id)
        assert [(m["kind"], m["status"], m["attempts"]) for m in log] == [
            ("acknowledgement", "sent", 1),
            ("compensation", "sent", 1),
        ]
        assert log[0]["log"][0]["transport"] == "smtp" and log[0]["log"][0]["outcome"] == "sent"
        customer = (await client.get("/v1/customers/CUST-9/deliveries")).json()
        assert {m["kind"] for m in customer} == {"acknowledgement", "compensation"}

        # With the consumer up (its group join is not the platform's share of the minute): timed.
        started = time.monotonic()
        await publish(app, created(uuid4(), email="sara@example.com", language="fa"))
        assert await eventually(lambda: _received(smtp_server, 3))
        elapsed = time.monotonic() - started
        persian = smtp_server.received[2]
        assert 'dir="rtl"' in persian.get_body(("html",)).get_content()
        assert "سپاسگزاریم" in persian.get_body(("plain",)).get_content()

        # A worker claimed the compensation and died mid-send: its lease has an hour to run, but its
        # liveness lock is free, so the message is taken again at once.
        compensation_id = log[1]["id"]
        async with app.state.runtime.db.transaction() as session:
            await session.execute(
                sql(
                    "UPDATE notifications.messages SET status = 'sending', attempts = 2, "
                    "lease_until = now() + interval '1 hour', claimed_by = 'a-dead-worker' WHERE id = :id"
                ),
                {"id": compensation_id},
            )
            await session.execute(
                sql(
                    "INSERT INTO notifications.delivery_attempts (message_id, attempt, transport, outcome) "
                    "VALUES (:id, 2, 'smtp', 'in_flight')"
                ),
                {"id": compensation_id},
            )
        assert await eventually(lambda: _received(smtp_server, 4)), "a message lost by a dead worker"
        resent = smtp_server.received[3]
        assert resent["Message-ID"] == second["Message-ID"], "a resend must keep its Message-ID"

        # SMTP accepts before the worker records the attempt as sent: wait for the record.
        async def resend_recorded() -> list[str]:
            log = (await client.get(f"/v1/deliveries/{compensation_id}")).json()["log"]
            outcomes = [a["outcome"] for a in log]
            return outcomes if outcomes[-1:] == ["sent"] and len(outcomes) == 3 else []

        assert await eventually(resend_recorded) == ["sent", "interrupted", "sent"]
    print(f"acknowledgement accepted by SMTP {elapsed * 1000:.0f} ms after complaint.created was published")
    # The practice's promise is an answer within a minute; the platform's share is measured by the
    # benchmarks (`make bench`), not asserted here, where a loaded machine decides the figure.
    assert elapsed < 60.0


async def _received(mailbox: Any, count: int) -> bool:
    return len(mailbox.received) >= count


def status_changed(
    complaint_id: UUID, before: str, after: str, **fields: Any
) -> Event[ComplaintStatusChangedV1]:
    data = ComplaintStatusChangedV1.model_validate(
        {
            "complaint_id": complaint_id,
            "client_id": "crm-test",
            "customer_id": "CUST-9",
            "from_status": before,
            "to_status": after,
            "actor": "agent-1",
            "changed_at": datetime.now(UTC),
            **fields,
        }
    )
    return Event(COMPLAINT_STATUS_CHANGED_V1, data, "/complaints/intake")


async def test_one_escalation_email_per_escalation_whatever_follows_or_is_redelivered(
    database_url: str, kafka_bootstrap: str, topics: str, smtp_server: Any
) -> None:
    """An escalated complaint's next change (here: started) keeps the level; it used to say
    "escalated" again, a second after the first. Only the escalation itself says it, once."""
    complaint_id = uuid4()
    mail = smtp_server.smtp_settings()
    async with notifications(database_url, kafka_bootstrap, topics, **mail) as (app, client):
        escalation = status_changed(
            complaint_id, "acknowledged", "acknowledged", escalated=True, escalation_level=1
        )
        started = status_changed(
            complaint_id, "acknowledged", "in_progress", escalated=False, escalation_level=1
        )
        await publish(app, created(complaint_id, email="ivan@example.com"), escalation, escalation, started)
        assert await eventually(lambda: _received(smtp_server, 2)), "no escalation e-mail arrived"
        await asyncio.sleep(1.0)
        log = await messages(client, complaint_id)
        # The two topics race: either message may have been recorded first.
        assert sorted(m["kind"] for m in log) == ["acknowledgement", "escalated"]
        assert len(smtp_server.received) == 2, "the same escalation e-mail went out twice"


async def test_a_confidential_complaints_messages_need_the_confidential_scope(
    database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    complaint_id = uuid4()
    async with notifications(database_url, kafka_bootstrap, topics) as (app, client):
        await publish(app, created(complaint_id, confidential=True, email="secret@example.com"))
        assert await eventually(lambda: messages(client, complaint_id)), "nothing recorded"
        agent, supervisor = bearer("crm-test", "agent-1", "agent"), bearer("crm-test", "sup-1", "supervisor")
        hidden = await client.get(f"/v1/complaints/{complaint_id}/messages", headers=agent)
        assert hidden.status_code == 404, "without the confidential scope, as if there were none"
        listed = await client.get("/v1/customers/CUST-9/deliveries", headers=agent)
        assert "secret@example.com" not in listed.text
        seen = await client.get(f"/v1/complaints/{complaint_id}/messages", headers=supervisor)
        assert seen.status_code == 200 and seen.json()[0]["recipient"] == "secret@example.com"
        other = await client.get(
            f"/v1/complaints/{complaint_id}/messages", headers=bearer("crm-other", "sup-1", "supervisor")
        )
        assert other.status_code == 404, "another client's complaint answers like a missing one"


async def test_sms_retried_then_dead_lettered_then_replayed_with_the_same_key(
    database_url: str, kafka_bootstrap: str, topics: str, provider: Any
) -> None:
    complaint_id = uuid4()
    async with notifications(
        database_url,
        kafka_bootstrap,
        topics,
        sms_endpoint=provider.url + "/sms",
        sms_api_token="provider-token",
    ) as (app, client):
        provider.failures = [503, 429, 500]  # three transient failures: the limit is three
        await publish(
            app, created(complaint_id, phone="+79001234567", preferred_channel="sms", language="ru")
        )

        async def dead_lettered() -> dict[str, Any] | None:
            found = await messages(client, complaint_id)
            return found[0] if found and found[0]["status"] == "dead_lettered" else None

        message = await eventually(dead_lettered)
        assert message, "the failing provider was not given up on"
        assert [a["outcome"] for a in message["log"]] == ["retry", "retry", "dead_lettered"]
        assert message["log"][-1]["detail"] == "SMS provider answered 500"
        keys = {headers["idempotency-key"] for headers, _ in provider.sms}
        assert keys == {message["id"]}, "each retry must carry the same idempotency key"
        assert provider.sms[0][0]["authorization"] == "Bearer provider-token"
        assert provider.sms[0][1]["to"] == "+79001234567" and "CMP-TEST-0001" in provider.sms[0][1]["text"]

        replayed = await client.post(f"/v1/deliveries/{message['id']}/replay")
        assert replayed.status_code == 202, replayed.text

        async def sent() -> dict[str, Any] | None:
            found = (await client.get(f"/v1/deliveries/{message['id']}")).json()
            return found if found["status"] == "sent" else None

        delivered = await eventually(sent)
        assert delivered and delivered["attempts"] == 4 and delivered["log"][-1]["outcome"] == "sent"
        assert len(provider.sms) == 4 and provider.sms[-1][0]["idempotency-key"] == message["id"]
        again = await client.post(f"/v1/deliveries/{message['id']}/replay")
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        missing = await client.post(f"/v1/deliveries/{uuid4()}/replay")
        assert missing.status_code == 404


async def test_crm_callback_task_is_signed_and_keeps_its_id_across_retries(
    database_url: str, kafka_bootstrap: str, topics: str, provider: Any
) -> None:
    complaint_id = uuid4()
    webhooks = {"crm-test": {"url": provider.url + "/hooks", "secrets": [SECRET_OLD, SECRET_NEW]}}
    async with notifications(database_url, kafka_bootstrap, topics, webhooks=webhooks) as (app, client):
        provider.failures = [502]
        due = FollowupDueV1.model_validate(
            {
                "complaint_id": complaint_id,
                "followup_id": uuid4(),
                "customer_id": "CUST-9",
                "kind": "deadline_warning",
                "deadline_name": "final_response",
                "due_at": datetime.now(UTC),
                "fired_at": datetime.now(UTC),
            }
        )
        resolved = ComplaintStatusChangedV1.model_validate(
            {
                "complaint_id": complaint_id,
                "customer_id": "CUST-9",
                "from_status": "in_progress",
                "to_status": "resolved",
                "actor": "agent-1",
                "changed_at": datetime.now(UTC),
            }
        )
        await publish(
            app,
            Event(FOLLOWUP_DUE_V1, due, "/complaints/followup"),
            Event(COMPLAINT_STATUS_CHANGED_V1, resolved, "/complaints/intake"),
            created(complaint_id, email="ivan@example.com"),
        )

        async def both_sent() -> list[dict[str, Any]] | None:
            found = await messages(client, complaint_id)
            return found if len(found) == 3 and all(m["status"] == "sent" for m in found) else None

        found = await eventually(both_sent)
        assert found, "the callback task and the update were not both delivered"
        assert {m["kind"] for m in found} == {"callback_task", "resolved", "acknowledgement"}
        assert len(provider.hooks) == 2
        ids = {headers["webhook-id"] for headers, _ in provider.hooks}
        assert len(ids) == 1, "a retried webhook must keep its id"
        headers, body = provider.hooks[-1]
        signatures = headers["webhook-signature"].split(" ")
        assert len(signatures) == 2
        for secret in (SECRET_OLD, SECRET_NEW):
            key = base64.b64decode(secret.removeprefix("whsec_"))
            signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
            expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            assert expected in signatures
        payload = json.loads(body)
        assert payload["type"] == "complaint.callback_task"
        assert (
            payload["data"]["followup_kind"] == "deadline_warning"
            and payload["data"]["reference"] == "CMP-TEST-0001"
        )
        assert "ivan@example.com" not in body.decode()
