"""What a message says: Jinja2 templates per message kind, channel and locale.

The files live in `templates/<locale>/<kind>.<channel>.j2`, plain text a non-programmer can edit. An
e-mail template has a `subject` block and a `text` block (paragraphs separated by a blank line); the
HTML part is the text's paragraphs in `templates/_layout.html.j2`, written right to left for Persian.
SMS and webhook templates are the text itself.

`Templates.load()` compiles every file and renders each (kind, channel, locale) against sample data,
confidential and not, with undefined variables as errors: a broken template stops the start, it
never fails a send.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateError, select_autoescape

from complaints_notifications.domain.messages import CUSTOMER_CHANNELS, Channel, MessageKind

TEMPLATE_DIR = Path(__file__).parent.parent / "templates"  # the package's templates/
DEFAULT_LOCALE = "en"
SHIPPED_LOCALES = ("en", "ru", "fa")
RIGHT_TO_LEFT = frozenset({"fa", "ar", "he", "ur"})
LAYOUT = "_layout.html.j2"


class TemplateProblem(RuntimeError):
    """A template does not compile or does not render against sample data."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready to send: `html` only for e-mail, `locale` the one actually used."""

    subject: str | None
    text: str
    html: str | None
    locale: str


def locale_candidates(language: str | None) -> list[str]:
    """`pt-BR` -> ["pt-br", "pt", "en"]: the most specific shipped locale first, English last."""
    candidates: list[str] = []
    if language:
        tag = language.strip().lower().replace("_", "-")
        parts = tag.split("-")
        candidates = ["-".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return [*dict.fromkeys([*candidates, DEFAULT_LOCALE])]


def text_direction(locale: str) -> str:
    return "rtl" if locale.split("-")[0] in RIGHT_TO_LEFT else "ltr"


def sample_variables(kind: MessageKind) -> dict[str, Any]:
    """Every variable a template of `kind` may use, with plausible values: what start-up renders."""
    common: dict[str, Any] = {
        "reference": "CMP-2026-000123",
        "customer_name": "Ana Lima",
        "confidential": False,
        "owner_email": "care@example.com",
        "owner_phone": "+44 20 7946 0000",
        "supervisor": kind is MessageKind.ESCALATED,
        "next_contact": "2026-12-04",
    }
    letter = {
        "outcome": "partly_upheld",
        "redress": "50.00 GBP",
        "explanation": "We charged the fee in error and have refunded it.",
        "required_content": ["You may refer your complaint to the ombudsman within six months."],
        "respond_by": "2026-12-21",
    }
    per_kind: dict[MessageKind, dict[str, Any]] = {
        MessageKind.ACKNOWLEDGEMENT: {"respond_by": "2026-12-16"},
        MessageKind.HOLDING_RESPONSE: letter,
        MessageKind.SUMMARY_RESOLUTION: letter,
        MessageKind.FINAL_RESPONSE: letter,
        MessageKind.COMPENSATION: {
            "offer_description": "A credit of 10 EUR on your next bill",
            "offer_kind": "fixed_credit",
            "value": "10.00 EUR",
            "voucher_code": "SORRY-7QK2-M9XD",
            "voucher_expires": "2026-12-31",
        },
        MessageKind.SATISFACTION_SURVEY: {"survey_url": "https://survey.example.com/CMP-2026-000123"},
        MessageKind.REOPENED: {"escalation_level": 1},
        MessageKind.ESCALATED: {"escalation_level": 2},
        MessageKind.CALLBACK_TASK: {
            "followup_kind": "callback_task",
            "deadline_name": "final_response",
            "due_at": "2026-12-01T09:00:00+00:00",
            "attempt": 2,
        },
    }
    return {**common, **per_kind.get(kind, {})}


def channels_of(kind: MessageKind) -> tuple[Channel, ...]:
    return (Channel.WEBHOOK,) if kind is MessageKind.CALLBACK_TASK else CUSTOMER_CHANNELS


class Templates:
    """The compiled templates, checked once; `render` picks the locale with fallbacks."""

    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        self.directory = directory
        self.env = Environment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._compiled: dict[str, Template] = {}

    @classmethod
    def load(cls, directory: Path = TEMPLATE_DIR) -> Templates:
        templates = cls(directory)
        templates.check()
        return templates

    def check(self) -> None:
        """Compile every file and render every (kind, channel, locale) both ways, or raise."""
        for name in self.env.list_templates(extensions=["j2"]):
            self._template(name)
        for kind in MessageKind:
            for channel in channels_of(kind):
                if self._path(DEFAULT_LOCALE, kind, channel) not in self._compiled:
                    raise TemplateProblem(f"missing {self._path(DEFAULT_LOCALE, kind, channel)}")
                for locale in self.locales():
                    for confidential in (False, True):
                        variables = {**sample_variables(kind), "confidential": confidential}
                        self.render(kind, channel, locale, variables)

    def locales(self) -> list[str]:
        return sorted(p.name for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith("_"))

    def render(
        self, kind: MessageKind, channel: Channel, language: str | None, variables: dict[str, Any]
    ) -> Rendered:
        locale = self._locale_for(kind, channel, language)
        template = self._template(self._path(locale, kind, channel))
        try:
            if channel is Channel.EMAIL:
                return self._render_email(template, locale, variables)
            return Rendered(None, _clean(template.render(variables)), None, locale)
        except TemplateError as exc:
            raise TemplateProblem(f"{self._path(locale, kind, channel)}: {exc}") from exc

    def _render_email(self, template: Template, locale: str, variables: dict[str, Any]) -> Rendered:
        context = template.new_context(variables)
        subject = " ".join(_clean("".join(template.blocks["subject"](context))).split())
        text = _clean("".join(template.blocks["text"](context)))
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        html = self._template(LAYOUT).render(
            subject=subject, paragraphs=paragraphs, lang=locale, direction=text_direction(locale)
        )
        return Rendered(subject, text, html, locale)

    def _locale_for(self, kind: MessageKind, channel: Channel, language: str | None) -> str:
        # `check()` compiled every file there is: no need to look on disk per message.
        for locale in locale_candidates(language):
            if self._path(locale, kind, channel) in self._compiled:
                return locale
        return DEFAULT_LOCALE

    def _template(self, name: str) -> Template:
        if name not in self._compiled:
            try:
                self._compiled[name] = self.env.get_template(name)
            except TemplateError as exc:
                raise TemplateProblem(f"{name}: {exc}") from exc
        return self._compiled[name]

    @staticmethod
    def _path(locale: str, kind: MessageKind, channel: Channel) -> str:
        return f"{locale}/{kind.value}.{channel.value}.j2"


def _clean(text: str) -> str:
    """Trim each line's end and collapse runs of blank lines that conditionals leave behind."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    cleaned: list[str] = []
    for line in lines:
        if line or (cleaned and cleaned[-1]):
            cleaned.append(line)
    return "\n".join(cleaned)
