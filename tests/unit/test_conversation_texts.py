"""User-facing texts: both languages complete, and the pipeline's messages say what they must."""

from __future__ import annotations

import string

import pytest

from tests.unit.test_conversation_fakes import CATALOG
from trt_actors.conversation import texts
from trt_actors.conversation.texts_menu import FIELD_NAMES, KIND_LABELS
from trt_actors.domain.states import Failure


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_text_exists_in_both_languages_with_the_same_placeholders() -> None:
    for key, (en, ru) in texts.all_texts().items():
        assert en.strip() and ru.strip(), key
        assert _fields(en) == _fields(ru), key


def test_every_catalog_kind_and_field_has_a_name_in_both_languages() -> None:
    assert set(CATALOG.kinds()) <= set(KIND_LABELS)
    names = {f.name for m in CATALOG.models.values() for f in m.fields}
    assert names <= set(FIELD_NAMES), names - set(FIELD_NAMES)


def test_language_follows_telegram_language_code() -> None:
    assert texts.lang_for("ru") == "ru" and texts.lang_for("ru-RU") == "ru"
    assert texts.lang_for("en-GB") == "en" and texts.lang_for("uk") == "en"
    assert texts.lang_for(None) == "en"


@pytest.mark.parametrize(("n", "word"), [(1, "кредит"), (2, "кредита"), (5, "кредитов"),
                                         (11, "кредитов"), (21, "кредит"), (22, "кредита"),
                                         (112, "кредитов")])
def test_russian_plurals(n: int, word: str) -> None:
    assert texts.credits("ru", n) == f"{n} {word}"


def test_progress_messages() -> None:
    assert texts.job_progress("en", "queued", job_id=7) == "⏳ Job #7: queued…"
    assert texts.job_progress("en", "generating", job_id=7, elapsed_seconds=42) == (
        "🎨 Job #7: generating… 0:42 elapsed")
    assert texts.job_progress("ru", "generating", job_id=7, elapsed_seconds=3725) == (
        "🎨 Задание #7: генерация… прошло 1:02:05")
    assert texts.job_progress("en", "done", job_id=7) == "✅ Job #7: done"
    assert texts.result_caption("en", "Z-Image", job_id=7) == "✅ Z-Image · job #7"


@pytest.mark.parametrize("reason", [f.value for f in Failure])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_failure_reason_is_explained_and_says_credits_came_back(
    reason: str, lang: str,
) -> None:
    text = texts.failure_message(lang, reason, job_id=3, price=28, kie_message="boom")
    assert "#3" in text
    assert texts.t(lang, "fail.other") not in text          # a specific explanation
    assert ("28 credits have been returned" in text) if lang == "en" else (
        "28 кредитов возвращены" in text)
    free = texts.failure_message(lang, reason, job_id=3, price=0)
    assert ("nothing was charged" in free) if lang == "en" else ("ничего не списано" in free)


def test_kie_failure_messages_are_simplified() -> None:
    policy = texts.failure_message(
        "en", "kie_failed", job_id=1, price=5,
        kie_message='{"error": "Prompt flagged as sensitive content (code 400)"}')
    assert "content filter" in policy and "flagged" not in policy
    noisy = texts.simplify_kie_message(
        "en", "Internal error at https://kie.example/x?token=abc. Trace: " + "x" * 500)
    assert noisy == "Internal error at."
    long = texts.simplify_kie_message("en", "word " * 100)
    assert long is not None and len(long) <= 150 and long.endswith("…")
    assert texts.simplify_kie_message("en", "   ") is None
    assert "could not make this one." in texts.failure_message(
        "en", "kie_failed", job_id=1, price=5)


def test_credit_and_menu_messages() -> None:
    assert texts.welcome_grant("en", 20) == "🎁 Welcome! You got 20 credits to try the paid models."
    assert "+110 credits" in texts.topup_credited("en", 110, 210)
    short = texts.insufficient_credits("en", needed=28, balance=1)
    assert "28 credits" in short and "1 credit" in short and "/topup" in short
    assert "all 3 free generations for today" in texts.free_limit_reached("en", 3)
    assert "expired" in texts.menu_expired("en") and "устарело" in texts.menu_expired("ru")
    assert texts.unexpected_input("en", "Step 2/2 · Aspect ratio").endswith(
        "Step 2/2 · Aspect ratio")
    assert "/start" in texts.unexpected_input("ru")
