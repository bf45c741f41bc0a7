"""What the customer (or the CRM) is told, when, on which channel: pure rules, no I/O.

The wording lives in the templates (see `domain/rendering.py`); here are the decisions around it: which
events call for which message, the customer's channel with its fallbacks, what a template may see
(a confidential complaint's templates never see the customer's name), SMS quiet hours in the
customer's time zone, and the retry schedule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class MessageKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    COMPENSATION = "compensation"
    SATISFACTION_SURVEY = "satisfaction_survey"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    # A short word while a complaint waits: nothing else has told the customer how it is going.
    PROGRESS_UPDATE = "progress_update"
    # The regulatory letters (complaint.letter_issued), their required content already chosen.
    HOLDING_RESPONSE = "holding_response"
    SUMMARY_RESOLUTION = "summary_resolution"
    FINAL_RESPONSE = "final_response"
    # Not to the customer: a task for the CRM's agents (follow-ups other than the satisfaction check).
    CALLBACK_TASK = "callback_task"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"
    # No way to reach the customer: the message is recorded and marked failed, never sent.
    NONE = "none"


CUSTOMER_CHANNELS = (Channel.EMAIL, Channel.SMS)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a complaint's messages go to, as complaint.created told us."""

    customer_id: str
    client_id: str | None
    reference: str
    confidential: bool
    contact: dict[str, Any]
    # The complaint's due times as intake last published them: when the customer hears from us next.
    deadlines: tuple[dict[str, Any], ...] = ()
    # Escalated or moved to a supervisor: the supervisor owns it in every later message.
    escalated: bool = False

    @property
    def language(self) -> str:
        return str(self.contact.get("language") or "en")

    @property
    def name(self) -> str | None:
        name = self.contact.get("name")
        return None if self.confidential or not name else str(name)


def customer_address(contact: dict[str, Any]) -> tuple[Channel, str | None]:
    """The preferred channel where we have its address, else e-mail, else SMS, else none."""
    email, phone = contact.get("email"), contact.get("phone")
    if contact.get("preferred_channel") == "sms" and phone:
        return Channel.SMS, str(phone)
    if email:
        return Channel.EMAIL, str(email)
    if phone:
        return Channel.SMS, str(phone)
    return Channel.NONE, None


LETTERS = frozenset(
    {MessageKind.HOLDING_RESPONSE, MessageKind.SUMMARY_RESOLUTION, MessageKind.FINAL_RESPONSE}
)


def status_update_kind(data: dict[str, Any]) -> MessageKind | None:
    """A short update for resolution, reopening and escalation; other status changes say nothing,
    nor does one a regulatory letter tells the customer of.

    Only the escalation itself says "escalated": an escalated complaint's later changes (start,
    acknowledge) carry the same level, and once sent the customer one e-mail per change a second
    apart. Events from before `escalated` travelled: an escalation is the change that keeps the status.
    """
    if data.get("letter_kind"):
        return None
    if data.get("reopened"):
        return MessageKind.REOPENED
    if data.get("to_status") == "resolved":
        return MessageKind.RESOLVED
    escalated = data.get("escalated")
    if escalated is None:
        escalated = int(data.get("escalation_level") or 0) > 0 and data.get("from_status") == data.get(
            "to_status"
        )
    return MessageKind.ESCALATED if escalated else None


@dataclass(frozen=True, slots=True)
class Owner:
    """Who handles the complaint in the customer's eyes, and how to reach them (every message says)."""

    email: str
    phone: str


# Who handles a complaint that was escalated or moved to a supervisor (the templates word it).
SUPERVISOR_KINDS = frozenset({MessageKind.ESCALATED})


def next_contact(
    deadlines: list[dict[str, Any]] | tuple[dict[str, Any], ...], now: datetime, within: timedelta
) -> str:
    """The day the customer will next hear from us: the complaint's earliest open due time still
    ahead, and never later than `within` (the progress update keeps that promise)."""
    latest = now + within
    due = [
        datetime.fromisoformat(str(d["due_at"]))
        for d in deadlines
        if d.get("due_at") and not d.get("met_at") and d.get("breach", True)
    ]
    ahead = [at for at in due if now < at < latest]
    return min(ahead, default=latest).date().isoformat()


def template_variables(
    kind: MessageKind,
    recipient: Recipient,
    data: dict[str, Any],
    survey_url: str,
    owner: Owner,
    next_contact_on: str,
) -> dict[str, Any]:
    """What the templates of `kind` may use; only what the wording needs, nothing more. Every
    customer message names its owner (the team, or a supervisor), how to reach them, and when the
    customer hears from us next."""
    variables: dict[str, Any] = {
        "reference": recipient.reference,
        "customer_name": recipient.name,
        "confidential": recipient.confidential,
        "owner_email": owner.email,
        "owner_phone": owner.phone,
        "supervisor": kind in SUPERVISOR_KINDS or recipient.escalated,
        "next_contact": next_contact_on,
    }
    if kind is MessageKind.ACKNOWLEDGEMENT:
        variables["respond_by"] = respond_by(data.get("deadlines") or [])
    elif kind in LETTERS:
        redress = data.get("redress")
        variables |= {
            "outcome": data.get("outcome"),
            "redress": f"{redress['amount']} {redress['currency']}" if redress else None,
            "explanation": data.get("explanation"),
            "required_content": list(data.get("required_content") or []),
            "respond_by": (data.get("respond_by") or "")[:10] or None,
        }
    elif kind is MessageKind.COMPENSATION:
        offer = data["offer"]
        expires = data.get("voucher_expires_at")
        variables |= {
            "offer_description": offer["description"],
            "offer_kind": offer["kind"],
            "value": f"{offer['value']['amount']} {offer['value']['currency']}",
            "voucher_code": data.get("voucher_code"),
            "voucher_expires": expires[:10] if expires else None,
        }
    elif kind is MessageKind.SATISFACTION_SURVEY:
        variables["survey_url"] = survey_url.format(reference=recipient.reference)
    elif kind in (MessageKind.REOPENED, MessageKind.ESCALATED):
        variables["escalation_level"] = int(data.get("escalation_level") or 0)
    elif kind is MessageKind.CALLBACK_TASK:
        variables |= {
            "followup_kind": data["kind"],
            "deadline_name": data.get("deadline_name"),
            "due_at": data["due_at"],
            "attempt": int(data.get("attempt") or 1),
        }
    return variables


def respond_by(deadlines: list[dict[str, Any]]) -> str | None:
    """The day the customer will hear back: the final response's due date (the latest running
    deadline that counts when there is none by that name)."""
    running = [d for d in deadlines if d.get("due_at") and d.get("breach", True)]
    final = next((d for d in running if d["name"] == "final_response"), None)
    chosen = final or max(running, key=lambda d: str(d["due_at"]), default=None)
    return str(chosen["due_at"])[:10] if chosen else None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """No SMS between `start` and `end` local time (the window may span midnight)."""

    start: time
    end: time

    def is_quiet(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime, zone: ZoneInfo) -> datetime:
        """`at` itself when SMS is allowed then, else the end of the quiet window (as UTC-aware)."""
        local = at.astimezone(zone)
        if not self.is_quiet(local.time()):
            return at
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        # Wall-clock arithmetic in the zone, then back to an instant: right across DST changes.
        return datetime.combine(end.date(), self.end, tzinfo=zone).astimezone(at.tzinfo)


# Where the contact carries no time zone, the country calling code is a fair guess.
CALLING_CODE_ZONES = {
    "+7": "Europe/Moscow",
    "+98": "Asia/Tehran",
    "+44": "Europe/London",
    "+49": "Europe/Berlin",
    "+33": "Europe/Paris",
    "+34": "Europe/Madrid",
    "+39": "Europe/Rome",
    "+351": "Europe/Lisbon",
    "+55": "America/Sao_Paulo",
    "+1": "America/New_York",
}


def customer_zone(contact: dict[str, Any], default: str) -> ZoneInfo:
    """The contact's own time zone if it carries one, else by calling code, else `default`."""
    for name in (contact.get("time_zone"), _zone_by_phone(contact.get("phone")), default):
        if name:
            try:
                return ZoneInfo(str(name))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _zone_by_phone(phone: Any) -> str | None:
    if not phone:
        return None
    digits = "+" + "".join(ch for ch in str(phone) if ch.isdigit())
    for length in (4, 3, 2):
        if digits[:length] in CALLING_CODE_ZONES:
            return CALLING_CODE_ZONES[digits[:length]]
    return None


def retry_delay(failures: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half the exponential step, plus a random part of the
    other half, so retries of many messages after one outage spread out but never come too soon."""
    step: float = min(max_s, base_s * 2.0 ** max(0, failures - 1))
    jitter: float = (rng or random).uniform(0, step / 2)
    return step / 2 + jitter
