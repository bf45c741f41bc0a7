"""Pure rules: channel choice, status updates, quiet hours, backoff, e-mail headers, webhook signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from datetime import UTC, datetime, time
from email import message_from_bytes, policy
from email.message import EmailMessage
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from standardwebhooks.webhooks import Webhook

from complaints_notifications.channels.base import Outgoing, PermanentFailure
from complaints_notifications.channels.email import MailComposer
from complaints_notifications.channels.webhook import signature_headers
from complaints_notifications.domain.messages import (
    Channel,
    MessageKind,
    QuietHours,
    customer_address,
    customer_zone,
    retry_delay,
    status_update_kind,
)

SECRET_A = "whsec_" + base64.b64encode(b"first-secret-of-the-crm-32bytes!").decode()
SECRET_B = "whsec_" + base64.b64encode(b"second-secret-after-rotation-32b").decode()


def test_preferred_channel_with_fallbacks() -> None:
    both = {"email": "a@example.com", "phone": "+79001234567"}
    assert customer_address({**both, "preferred_channel": "sms"}) == (Channel.SMS, "+79001234567")
    assert customer_address({**both, "preferred_channel": "phone"}) == (Channel.EMAIL, "a@example.com")
    assert customer_address({"phone": "+4420", "preferred_channel": "email"}) == (Channel.SMS, "+4420")
    assert customer_address({"preferred_channel": "sms"}) == (Channel.NONE, None)


def test_status_updates_only_for_resolution_reopening_and_escalation() -> None:
    assert status_update_kind({"to_status": "resolved"}) is MessageKind.RESOLVED
    assert status_update_kind({"to_status": "in_progress", "reopened": True}) is MessageKind.REOPENED
    assert status_update_kind({"to_status": "in_progress", "escalation_level": 2, "escalated": True}) is (
        MessageKind.ESCALATED
    )
    # An escalated complaint's later change keeps its level: no second "escalated".
    later = {"from_status": "acknowledged", "to_status": "in_progress", "escalation_level": 2}
    assert status_update_kind({**later, "escalated": False}) is None
    # Events from before `escalated` travelled: the escalation is the change that keeps the status.
    assert status_update_kind(later) is None
    assert status_update_kind({**later, "from_status": "in_progress"}) is MessageKind.ESCALATED
    assert status_update_kind({"to_status": "acknowledged"}) is None
    assert status_update_kind({"to_status": "closed", "escalation_level": 1}) is None


def test_quiet_hours_defer_to_the_morning_in_the_customers_zone() -> None:
    quiet = QuietHours(time(21, 0), time(8, 0))
    tehran = ZoneInfo("Asia/Tehran")  # UTC+3:30
    late = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)  # 22:30 in Tehran
    allowed = quiet.next_allowed(late, tehran)
    assert allowed.astimezone(tehran).replace(tzinfo=None) == datetime(2026, 11, 24, 8, 0)
    early = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 05:30 in Tehran: same morning
    assert quiet.next_allowed(early, tehran).astimezone(tehran).hour == 8
    afternoon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert quiet.next_allowed(afternoon, tehran) == afternoon
    assert QuietHours(time(0, 0), time(0, 0)).next_allowed(late, tehran) == late


def test_the_customers_zone_from_the_contact_or_the_calling_code() -> None:
    assert customer_zone({"time_zone": "Europe/Lisbon"}, "UTC") == ZoneInfo("Europe/Lisbon")
    assert customer_zone({"phone": "+98 912 000 0000"}, "UTC") == ZoneInfo("Asia/Tehran")
    assert customer_zone({"phone": "+7 900 000 00 00"}, "UTC") == ZoneInfo("Europe/Moscow")
    assert customer_zone({"time_zone": "Mars/Olympus"}, "Europe/Berlin") == ZoneInfo("Europe/Berlin")


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    delays = [retry_delay(n, 1.0, 60.0, rng) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        step = min(60.0, 2 ** (n - 1))
        assert step / 2 <= delay <= step
    assert len({round(retry_delay(3, 1.0, 60.0, rng), 6) for _ in range(20)}) > 1


def _outgoing(**overrides: object) -> Outgoing:
    values: dict[str, object] = {
        "id": uuid4(),
        "complaint_id": uuid4(),
        "kind": "compensation",
        "channel": "email",
        "recipient": "ana@example.com",
        "subject": "Subject",
        "body": "Text",
        "html": "<p>Text</p>",
        "language": "ru",
        "created_at": datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
    }
    return Outgoing(**{**values, **overrides})  # type: ignore[arg-type]


def _parsed(message: Outgoing, sender: str = "Care <care@example.com>") -> EmailMessage:
    parsed = message_from_bytes(MailComposer(sender, "d").compose(message), policy=policy.default)
    assert isinstance(parsed, EmailMessage) and not parsed.defects
    return parsed


def test_an_email_threads_onto_the_complaints_earlier_messages() -> None:
    message = _outgoing(thread=["<a@d>", "<b@d>"])
    email = _parsed(message)
    assert email["Message-ID"] == f"<{message.id}@d>" and email["From"] == "Care <care@example.com>"
    assert email["In-Reply-To"] == "<b@d>" and email["References"] == "<a@d> <b@d>"
    assert email["Content-Language"] == "ru" and email["Auto-Submitted"] == "auto-generated"
    assert [part.get_content_type() for part in email.iter_parts()] == ["text/plain", "text/html"]


def test_an_email_in_another_script_reads_back_as_written() -> None:
    subject = "Компенсация по обращению " * 8
    text, html = "Здравствуйте, Ана.\n\nمتشکریم", '<p dir="rtl">متشکریم</p>'
    email = _parsed(_outgoing(subject=subject, body=text, html=html), "Служба заботы <care@example.com>")
    assert email["Subject"] == subject and email["From"] == "Служба заботы <care@example.com>"
    assert email.get_body(("plain",)).get_content() == text  # type: ignore[union-attr]
    assert email.get_body(("html",)).get_content() == html  # type: ignore[union-attr]
    plain = _parsed(_outgoing(html=None))
    assert plain.get_content_type() == "text/plain" and plain.get_content() == "Text"


def test_a_line_break_in_a_value_never_starts_a_header_of_its_own() -> None:
    email = _parsed(_outgoing(subject="Hello\r\nBcc: someone@example.com"))
    assert email["Bcc"] is None and "Bcc" in email["Subject"]
    for overrides in (
        {"recipient": "ana@example.com\r\nBcc: x@example.com"},
        {"recipient": "анна@example.com"},
    ):
        with pytest.raises(PermanentFailure):
            MailComposer("care@example.com", "d").compose(_outgoing(**overrides))


def test_webhook_signature_verifies_independently_for_each_active_secret() -> None:
    body = '{"type":"complaint.callback_task","data":{}}'
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    headers = signature_headers("msg_1", body, [SECRET_A, SECRET_B], at)
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == str(int(at.timestamp()))
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    for secret, signature in zip((SECRET_A, SECRET_B), signatures, strict=True):
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = f"msg_1.{headers['webhook-timestamp']}.{body}".encode()
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        assert signature == f"v1,{expected}"


def test_a_crm_holding_only_the_new_secret_still_verifies() -> None:
    body = '{"x":1}'
    headers = signature_headers("msg_2", body, [SECRET_A, SECRET_B], datetime.now(UTC))
    assert Webhook(SECRET_B).verify(body, headers) == {"x": 1}


def test_a_letter_replaces_the_short_status_update_and_the_acknowledgement_names_the_date() -> None:
    from complaints_notifications.domain.messages import respond_by

    assert status_update_kind({"to_status": "resolved", "letter_kind": "final_response"}) is None
    assert status_update_kind({"to_status": "resolved"}) is MessageKind.RESOLVED
    deadlines = [
        {"name": "acknowledge", "due_at": "2026-12-01T10:01:00+00:00"},
        {"name": "summary_resolution", "due_at": "2026-12-04T17:00:00+00:00", "breach": False},
        {"name": "final_response", "due_at": "2027-01-26T10:00:00+00:00"},
        {"name": "service_level", "due_at": "2026-12-29T17:00:00+00:00"},
    ]
    assert respond_by(deadlines) == "2027-01-26"
    assert respond_by([d for d in deadlines if d["name"] != "final_response"]) == "2026-12-29"
    assert respond_by([]) is None
