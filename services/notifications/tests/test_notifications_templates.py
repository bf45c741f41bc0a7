"""The templates: every kind, channel and locale renders; fallbacks; right to left; confidential."""

from __future__ import annotations

import itertools
from pathlib import Path
from shutil import copytree

import pytest

from complaints_notifications.domain.messages import Channel, MessageKind
from complaints_notifications.domain.rendering import (
    TemplateProblem,
    Templates,
    locale_candidates,
    sample_variables,
)


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates.load()


def test_english_russian_and_persian_are_shipped(templates: Templates) -> None:
    assert {"en", "ru", "fa"} <= set(templates.locales())


def test_the_acknowledgement_follows_the_service_recovery_steps(templates: Templates) -> None:
    variables = sample_variables(MessageKind.ACKNOWLEDGEMENT)
    rendered = templates.render(MessageKind.ACKNOWLEDGEMENT, Channel.EMAIL, "en", variables)
    assert rendered.subject == "Thank you for telling us (CMP-2026-000123)"
    text = rendered.text
    for step in ("Dear Ana Lima", "Thank you", "helps us find what we must fix", "sorry", "working on it"):
        assert step in text
    assert "CMP-2026-000123" in text and "\n\n" in text
    assert rendered.html and "<p>Dear Ana Lima,</p>" in rendered.html and 'dir="ltr"' in rendered.html


def test_language_falls_back_to_the_base_language_then_english() -> None:
    assert locale_candidates("pt-BR") == ["pt-br", "pt", "en"]
    assert locale_candidates("RU") == ["ru", "en"]
    assert locale_candidates(None) == ["en"]


@pytest.mark.parametrize(("language", "locale"), [("ru", "ru"), ("fa-IR", "fa"), ("de", "en"), ("", "en")])
def test_the_customers_language_picks_the_locale(templates: Templates, language: str, locale: str) -> None:
    rendered = templates.render(
        MessageKind.ACKNOWLEDGEMENT, Channel.SMS, language, sample_variables(MessageKind.ACKNOWLEDGEMENT)
    )
    assert rendered.locale == locale


def test_persian_email_is_written_right_to_left(templates: Templates) -> None:
    variables = sample_variables(MessageKind.COMPENSATION)
    rendered = templates.render(MessageKind.COMPENSATION, Channel.EMAIL, "fa", variables)
    assert rendered.html and 'dir="rtl"' in rendered.html and 'lang="fa"' in rendered.html
    assert "SORRY-7QK2-M9XD" in rendered.text and "کد شما" in rendered.text


def test_html_escapes_what_the_text_carries(templates: Templates) -> None:
    variables = {**sample_variables(MessageKind.COMPENSATION), "offer_description": "<script>x</script>"}
    rendered = templates.render(MessageKind.COMPENSATION, Channel.EMAIL, "en", variables)
    assert rendered.html and "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html


@pytest.mark.parametrize("locale", ["en", "ru", "fa"])
@pytest.mark.parametrize("kind", [k for k in MessageKind if k is not MessageKind.CALLBACK_TASK])
def test_confidential_wording_names_nobody(templates: Templates, kind: MessageKind, locale: str) -> None:
    variables = {**sample_variables(kind), "confidential": True, "customer_name": None}
    for channel in (Channel.EMAIL, Channel.SMS):
        rendered = templates.render(kind, channel, locale, variables)
        assert "Ana Lima" not in rendered.text
        assert "CMP-2026-000123" in rendered.text


def test_confidential_acknowledgement_is_minimal(templates: Templates) -> None:
    variables = {**sample_variables(MessageKind.ACKNOWLEDGEMENT), "confidential": True}
    full = templates.render(
        MessageKind.ACKNOWLEDGEMENT, Channel.EMAIL, "en", sample_variables(MessageKind.ACKNOWLEDGEMENT)
    )
    minimal = templates.render(MessageKind.ACKNOWLEDGEMENT, Channel.EMAIL, "en", variables)
    assert len(minimal.text) < len(full.text) / 2 and "Dear" not in minimal.text


def test_a_broken_template_stops_the_start(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    copytree(Path(Templates().directory), directory)
    (directory / "ru" / "compensation.sms.j2").write_text("{{ voucher_cod }} {% if %}")
    with pytest.raises(TemplateProblem, match=r"ru/compensation\.sms\.j2"):
        Templates.load(directory)


def test_an_unknown_variable_stops_the_start(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    copytree(Path(Templates().directory), directory)
    (directory / "fa" / "resolved.sms.j2").write_text("{{ refrence }}")
    with pytest.raises(TemplateProblem, match="refrence"):
        Templates.load(directory)


def test_a_missing_english_template_stops_the_start(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    copytree(Path(Templates().directory), directory)
    (directory / "en" / "escalated.sms.j2").unlink()
    with pytest.raises(TemplateProblem, match=r"missing en/escalated\.sms\.j2"):
        Templates.load(directory)


def test_the_acknowledgement_says_by_when_the_customer_hears_back(templates: Templates) -> None:
    for language, words in (("en", "by 2026-12-16 at the latest"), ("ru", "не позднее 2026-12-16")):
        variables = sample_variables(MessageKind.ACKNOWLEDGEMENT)
        assert words in templates.render(MessageKind.ACKNOWLEDGEMENT, Channel.EMAIL, language, variables).text
    without = {**sample_variables(MessageKind.ACKNOWLEDGEMENT), "respond_by": None}
    assert "latest" not in templates.render(MessageKind.ACKNOWLEDGEMENT, Channel.EMAIL, "en", without).text


@pytest.mark.parametrize("kind", [MessageKind.HOLDING_RESPONSE, MessageKind.FINAL_RESPONSE])
def test_letters_carry_their_required_content_and_the_firms_words(
    templates: Templates, kind: MessageKind
) -> None:
    variables = sample_variables(kind)
    for channel, language in itertools.product((Channel.EMAIL, Channel.SMS), ("en", "ru", "fa")):
        rendered = templates.render(kind, channel, language, variables)
        assert rendered.locale == language
        assert variables["required_content"][0] in rendered.text and variables["explanation"] in rendered.text
    email = templates.render(kind, Channel.EMAIL, "en", variables).text
    if kind is MessageKind.FINAL_RESPONSE:
        assert "We uphold your complaint in part. We are offering you 50.00 GBP" in email
    else:
        assert "You will have our final response by 2026-12-21." in email


README = Path(__file__).resolve().parents[1] / "README.md"


def stock_apologies() -> list[str]:
    text = README.read_text()
    listed = text[text.index("<!-- stock-apologies -->") : text.index("<!-- /stock-apologies -->")]
    return [line.strip()[3:-1] for line in listed.splitlines() if line.startswith("- `")]


def customer_templates() -> list[Path]:
    root = Path(Templates().directory)
    return [p for p in root.glob("*/*.j2") if not p.name.startswith("callback_task")]


def test_no_template_uses_a_stock_apology_formula() -> None:
    formulas = stock_apologies()
    assert len(formulas) >= 10
    for path in customer_templates():
        text = path.read_text().lower()
        for formula in formulas:
            assert formula.lower() not in text, f"{path.parent.name}/{path.name} says {formula!r}"


@pytest.mark.parametrize("confidential", [False, True])
def test_every_message_in_every_language_names_its_owner_and_the_next_contact(
    templates: Templates, confidential: bool
) -> None:
    rendered = 0
    for kind, locale, channel in itertools.product(MessageKind, templates.locales(), Channel):
        if kind is MessageKind.CALLBACK_TASK or channel not in (Channel.EMAIL, Channel.SMS):
            continue
        variables = {**sample_variables(kind), "confidential": confidential}
        message = templates.render(kind, channel, locale, variables)
        assert message.locale == locale, f"{kind}.{channel} is not shipped in {locale}"
        where = f"{locale}/{kind.value}.{channel.value}"
        assert variables["owner_email"] in message.text and variables["owner_phone"] in message.text, where
        assert variables["next_contact"] in message.text, where
        rendered += 1
    assert rendered == (len(MessageKind) - 1) * 2 * len(templates.locales())


def test_an_escalated_message_names_a_supervisor_as_its_owner(templates: Templates) -> None:
    variables = sample_variables(MessageKind.ESCALATED)
    owners = {"en": "supervisor", "ru": "руководитель", "fa": "سرپرست"}
    for locale, word in owners.items():
        assert word in templates.render(MessageKind.ESCALATED, Channel.EMAIL, locale, variables).text
