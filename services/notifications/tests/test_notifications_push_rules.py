"""Pure rules of pushes: which addresses a webhook may reach, which decision is which push, what a
push body holds, and that production keeps webhook secrets under its own key."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import SecretStr

from complaints_common.events.contracts import (
    CompensationDecisionRecordedV1,
    CompensationGrantedV1,
)
from complaints_notifications.domain.push import (
    CATALOGUE,
    PushType,
    StatusChangedData,
    TargetRefused,
    address_class,
    check_scheme,
    decision_push,
    decision_push_key,
    granted_push,
    push_body,
    refused_address,
)
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.webhooks import SecretBox, new_secret


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_non_public_addresses_are_refused_with_their_class(address: str, kind: str) -> None:
    public = ipaddress.ip_address("93.184.215.14")
    refused = refused_address([public, ipaddress.ip_address(address)], [])
    assert refused is not None and address_class(refused) == kind


def test_public_addresses_and_allowed_networks_pass() -> None:
    addresses = [ipaddress.ip_address(a) for a in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")]
    assert refused_address(addresses, []) is None
    loopback = [ipaddress.ip_address("127.0.0.1")]
    assert refused_address(loopback, [ipaddress.ip_network("127.0.0.0/8")]) is None
    assert refused_address(loopback, [ipaddress.ip_network("10.0.0.0/8")]) is not None


def test_https_is_required_unless_the_operator_allows_http() -> None:
    check_scheme("https", allow_http=False)
    check_scheme("http", allow_http=True)
    for scheme, allow in (("http", False), ("ftp", True), ("file", False)):
        with pytest.raises(TargetRefused):
            check_scheme(scheme, allow_http=allow)


def test_each_decision_status_is_one_push() -> None:
    base = {
        "complaint_id": str(uuid4()),
        "decision_id": str(uuid4()),
        "customer_id": "C-1",
        "rule_id": "r",
        "decided_by": "auto",
        "decided_at": "2026-12-01T10:00:00Z",
    }
    expected = {
        "pending_approval": PushType.APPROVAL_WAITING,
        "held": PushType.APPROVAL_WAITING,
        "granted": PushType.GRANTED,
        "refused": PushType.DECLINED,
        "rejected": PushType.DECLINED,
    }
    for status, push in expected.items():
        found = decision_push({**base, "status": status})
        assert found is not None and found[0] is push and found[1].status == status


def test_a_grant_alone_is_the_push_its_decision_record_was_and_is_pushed_once_per_decision() -> None:
    """compensation.granted announces a grant alone: the push it makes is the one a decision record
    with status granted made (who granted it is who decided, when it was granted when decided), and
    both are keyed by the decision, so an upgrade that delivers both pushes it once."""
    money = {"amount": "25.00", "currency": "EUR"}
    decision_id, at = uuid4(), "2026-12-01T10:00:00Z"
    decision = {
        "complaint_id": uuid4(),
        "decision_id": decision_id,
        "customer_id": "C-1",
        "offer": {"kind": "coupon", "description": "A month free", "value": money, "cost": money},
        "rule_id": "any.billing-credit",
        "policy_version": "1",
        "reason": "within the agent's authority",
    }
    grant = CompensationGrantedV1.model_validate(
        decision | {"voucher_code": "ABCD-EFGH", "granted_by": "agent-7", "granted_at": at}
    )
    record = CompensationDecisionRecordedV1.model_validate(
        decision | {"status": "granted", "decided_by": "agent-7", "decided_at": at}
    )
    as_recorded = decision_push(record.model_dump(mode="json"))
    assert as_recorded is not None and granted_push(grant) == as_recorded
    assert as_recorded[0] is PushType.GRANTED and "cost" not in push_body("t", as_recorded[1])
    keys = {
        decision_push_key(event_id, push)
        for event_id, (_, push) in (("e-1", as_recorded), ("e-2", granted_push(grant)))
    }
    assert keys == {f"grant:{decision_id}"}
    waiting = decision_push(record.model_copy(update={"status": "pending_approval"}).model_dump(mode="json"))
    assert waiting is not None and decision_push_key("e-3", waiting[1]) == "e-3", "others once per event"


def test_a_push_body_is_type_timestamp_and_the_datas_own_fields() -> None:
    data = StatusChangedData.model_validate(
        {
            "complaint_id": str(uuid4()),
            "customer_id": "C-1",
            "from_status": "received",
            "to_status": "acknowledged",
            "reopened": False,
            "escalation_level": 0,
            "actor": "notifications",
            "changed_at": "2026-12-01T10:00:00Z",
        }
    )
    body = json.loads(push_body(PushType.STATUS_CHANGED, data, datetime(2026, 12, 1, tzinfo=UTC)))
    assert body["type"] == "complaint.status_changed" and body["timestamp"].startswith("2026-12-01")
    assert body["data"]["to_status"] == "acknowledged" and body["data"]["reason"] is None


def test_every_documented_example_is_a_valid_payload_of_its_type() -> None:
    assert {d.type for d in CATALOGUE} == {*PushType, "webhook.test"}
    for documented in CATALOGUE:
        documented.data.model_validate(documented.example["data"])


def test_secrets_are_sealed_not_stored_in_clear_and_production_needs_its_own_key() -> None:
    secret = new_secret()
    box = SecretBox([])
    sealed = box.seal(secret)
    assert secret not in sealed and box.open(sealed) == secret
    # The rule alone (production's other requirements, Kafka TLS and real channels, aside).
    unkeyed = NotificationSettings.model_construct(production=True, webhook_encryption_keys=[])
    with pytest.raises(ValueError, match="WEBHOOK_ENCRYPTION_KEYS"):
        unkeyed._production_encrypts_webhook_secrets_with_its_own_key()
    keyed = NotificationSettings.model_construct(production=True, webhook_encryption_keys=[SecretStr("k")])
    assert keyed._production_encrypts_webhook_secrets_with_its_own_key() is keyed
