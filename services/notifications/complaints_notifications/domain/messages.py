"""What the customer is told, and when: pure rules, no I/O.

The acknowledgement follows the service-recovery steps: thank the customer, say why the complaint is
welcome, apologise, promise action, give the reference and what happens next. A confidential
complaint gets a minimal wording that names nothing about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class MessageKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    COMPENSATION = "compensation"
    SATISFACTION_SURVEY = "satisfaction_survey"


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str | None
    address: str | None
    channel: str
    language: str
    reference: str
    confidential: bool


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    body: str


def _greeting(recipient: Recipient) -> str:
    return f"Dear {recipient.name}," if recipient.name and not recipient.confidential else "Hello,"


def acknowledgement(recipient: Recipient) -> Message:
    ref = recipient.reference
    if recipient.confidential:
        return Message(f"We received your message ({ref})", f"Hello,\n\nWe received your message {ref}.")
    return Message(
        f"Thank you for telling us ({ref})",
        f"{_greeting(recipient)}\n\n"
        "Thank you for taking the time to tell us what went wrong. Every complaint helps us find "
        "what we must fix, and we are sorry for the trouble this has caused you.\n\n"
        f"Your reference is {ref}. We are already working on it: you will hear from us about what "
        "we do to put it right, and we will check with you afterwards that it was.",
    )


def compensation(recipient: Recipient, data: dict[str, Any]) -> Message:
    offer = data["offer"]
    value = f"{offer['value']['amount']} {offer['value']['currency']}"
    code = data.get("voucher_code")
    how = f"\n\nYour code is {code}; quote it at your next purchase" if code else ""
    expires = data.get("voucher_expires_at")
    until = f" before {expires[:10]}." if code and expires else ("." if code else "")
    return Message(
        f"What we are doing to put it right ({recipient.reference})",
        f"{_greeting(recipient)}\n\nWe are sorry. {offer['description']} (value {value}).{how}{until}",
    )


def satisfaction_survey(recipient: Recipient) -> Message:
    return Message(
        f"Did we put it right? ({recipient.reference})",
        f"{_greeting(recipient)}\n\nA few days ago we settled your complaint {recipient.reference}. "
        "Are you satisfied with how we handled it? Just reply to this message: if anything is still "
        "wrong, we will reopen it at once.",
    )


def compose(kind: MessageKind, recipient: Recipient, data: dict[str, Any]) -> Message:
    if kind is MessageKind.ACKNOWLEDGEMENT:
        return acknowledgement(recipient)
    if kind is MessageKind.COMPENSATION:
        return compensation(recipient, data)
    return satisfaction_survey(recipient)


def contact_address(contact: dict[str, Any]) -> tuple[str, str | None]:
    """The channel to use and the address on it: the preferred one where we have it, else e-mail."""
    preferred = contact.get("preferred_channel", "email")
    if preferred == "sms" and contact.get("phone"):
        return "sms", contact["phone"]
    if contact.get("email"):
        return "email", contact["email"]
    if contact.get("phone"):
        return "sms", contact["phone"]
    return "none", None
