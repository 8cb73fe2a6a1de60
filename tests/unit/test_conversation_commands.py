"""The conversation engine outside the wizard: /cancel, /lang, account, admin, Stars top-up."""

from __future__ import annotations

from typing import Any

from tests.unit.test_conversation_fakes import CATALOG, Chat, FakeContext
from trt_actors.catalog.model import packaged_catalog_data, parse_catalog
from trt_actors.conversation.engine import (
    STAR_PACKS,
    InvoiceReply,
    MediaSent,
    Reply,
    Text,
    handle,
    validate_invoice_payload,
)


def start_z_image(chat: Chat) -> None:
    chat.cmd("start")
    chat.press("🎁")
    chat.press("Z-Image")
    chat.press("▶️")


def test_cancel_during_the_wizard_drops_it_and_expires_its_buttons() -> None:
    chat = Chat()
    start_z_image(chat)
    chat.type("a cat")
    old = chat.button("16:9")
    chat.cmd("cancel")
    assert "Cancelled" in chat.text()
    chat.press_data(old.data)
    assert "This menu has expired" in chat.text()
    chat.type("16:9")
    assert "/start" in chat.text() and chat.ctx.jobs == []


def test_cancel_button_on_a_question_cancels_too() -> None:
    chat = Chat()
    start_z_image(chat)
    chat.press("Cancel")
    assert "Cancelled" in chat.text() and chat.state["wizard"] is None


def test_cancel_a_job_not_yet_submitted_returns_its_credits() -> None:
    chat = Chat()
    chat.cmd("gen", "recraft/crisp-upscale image=https://example.com/a.png")
    chat.press("Confirm")
    assert chat.ctx.credits == 99
    chat.cmd("cancel")
    assert "Job #1 cancelled" in chat.text() and chat.ctx.credits == 100
    chat.cmd("cancel")
    assert "Nothing to cancel" in chat.text()


def test_lang_switches_to_russian_and_back() -> None:
    chat = Chat(language_code="en")
    chat.cmd("lang")
    chat.press("Русский")
    assert "Язык: русский" in chat.text()
    chat.cmd("start")
    assert "Ваш баланс: 100 кредитов" in chat.text()
    assert "🎁 Бесплатные модели" in chat.labels()
    chat.cmd("lang")
    chat.press("English")
    chat.cmd("balance")
    assert "Your balance: 100 credits" in chat.text()


def test_russian_by_default_for_a_russian_telegram_language() -> None:
    chat = Chat(language_code="ru-RU")
    chat.cmd("start")
    assert "Привет" in chat.text()
    start_z_image(chat)
    assert "Шаг 1/2" in chat.text() and "Опишите изображение" in chat.text()
    chat.type("кот")
    chat.type("16×9")
    assert "Выберите один из вариантов" in chat.text() and "Шаг 2/2" in chat.text()
    english = Chat(language_code="de")
    english.cmd("start")
    assert "Your balance" in english.text()


def test_lang_in_the_middle_of_the_wizard_repeats_the_question_in_the_new_language() -> None:
    chat = Chat()
    start_z_image(chat)
    chat.type("a cat")
    chat.cmd("lang")
    chat.press("Русский")
    assert "Шаг 2/2" in chat.text()
    chat.press("16:9")
    assert "Проверьте заказ" in chat.text()


def test_grant_is_refused_to_non_admins_and_works_for_admins() -> None:
    user = Chat(FakeContext(is_admin=False))
    user.cmd("grant", "42 100")
    assert "for administrators only" in user.text() and user.ctx.others[42] == 5
    user.cmd("stats")
    assert "for administrators only" in user.text()
    admin = Chat(FakeContext(is_admin=True))
    admin.cmd("grant", "42 100")
    assert "Granted 100 credits to user 42. Their balance: 105 credits." in admin.text()
    admin.cmd("grant", "42 lots")
    assert "Usage: /grant" in admin.text()
    admin.cmd("grant", "999 5")
    assert "Could not grant" in admin.text()
    admin.cmd("stats")
    assert "users: 3" in admin.text() and "delivered: 5" in admin.text()


def test_topup_offers_star_packs_and_a_pack_becomes_an_invoice() -> None:
    chat = Chat()
    chat.cmd("topup")
    assert chat.labels() == ["50 ⭐ → 50 credits", "100 ⭐ → 110 credits",
                             "250 ⭐ → 300 credits"]
    replies = chat.press("100 ⭐")
    invoice = replies[0]
    assert isinstance(invoice, InvoiceReply)
    assert (invoice.stars, invoice.credits, invoice.title) == (100, 110, "110 credits")
    assert validate_invoice_payload(invoice.payload) == 110
    assert validate_invoice_payload("topup:1000:1") is None
    assert validate_invoice_payload("garbage") is None
    assert all(validate_invoice_payload(p.payload) == p.credits for p in STAR_PACKS)


def test_payment_is_credited_once_and_a_replay_claims_no_new_credit() -> None:
    chat = Chat()
    chat.pay("charge-1", "topup:110:100", 100)
    assert "Payment received: +110 credits. Your balance: 210 credits." in chat.text()
    chat.pay("charge-1", "topup:110:100", 100)
    assert "already on your balance" in chat.text() and "+110" not in chat.text()
    assert chat.ctx.credits == 210


def test_payment_during_a_short_confirm_brings_the_confirm_screen_back() -> None:
    chat = Chat(FakeContext(credits=0))
    chat.cmd("gen", "recraft/crisp-upscale image=https://example.com/a.png")
    chat.press("Confirm")
    assert "Not enough credits" in chat.text()
    chat.cmd("topup")
    chat.pay("charge-2", "topup:50:50", 50)
    assert "+50 credits" in chat.text() and "Confirm" in chat.labels()[0]
    chat.press("Confirm")
    assert "Job #1 accepted" in chat.text() and chat.ctx.credits == 49


def test_balance_help_and_history_with_states_prices_and_links() -> None:
    chat = Chat()
    chat.cmd("history")
    assert "No jobs yet" in chat.text()
    chat.cmd("gen", "recraft/crisp-upscale image=https://example.com/a.png")
    chat.press("Confirm")
    chat.cmd("gen", 'z-image prompt="a dog" aspect_ratio=1:1')
    chat.press("Confirm")
    chat.ctx.jobs[0].update(state="delivered", urls=("https://cdn.example/r1.png",))
    chat.ctx.jobs[1].update(state="failed", failure="timed_out")
    chat.cmd("history")
    text = chat.text()
    assert "#2 · Z-Image · ❌ failed, credits returned (took too long) · free" in text
    assert "#1 · Crisp Upscale · ✅ delivered · 1 credit" in text
    assert "https://cdn.example/r1.png" in text
    assert text.index("#2") < text.index("#1")
    chat.cmd("balance")
    assert "Your balance: 99 credits" in chat.text()
    chat.cmd("help")
    for command in ("/start", "/gen", "/balance", "/topup", "/history", "/cancel", "/lang"):
        assert command in chat.text()


def test_unknown_command_and_unexpected_input_repeat_the_current_question() -> None:
    chat = Chat()
    chat.cmd("frobnicate")
    assert "Unknown command /frobnicate" in chat.text()
    chat.type("hello")
    assert "Send /start" in chat.text()
    chat.media("photo")
    assert "Send /start" in chat.text()
    start_z_image(chat)
    chat.cmd("frobnicate")
    assert "Unknown command" in chat.text() and "Step 1/2" in chat.text()
    chat.type("a cat")
    chat.media("video")
    assert "did not understand" in chat.text() and "Step 2/2" in chat.text()
    chat.cmd("start@TrtBot")
    assert "What would you like to make?" in chat.text()


def test_state_from_an_older_engine_or_a_vanished_model_starts_over_politely() -> None:
    ctx = FakeContext()
    state, replies = handle(CATALOG, {"v": 0, "menu": 9, "junk": 1}, Text("hi"), ctx,
                            language_code="en")
    assert isinstance(replies[0], Reply)
    assert "Send /start" in replies[0].text and state["menu"] == 9 and "junk" not in state
    gone: dict[str, Any] = {"v": 1, "lang": None, "menu": 3, "actions": [], "done": None,
            "wizard": {"model": "retired/model", "values": {}, "phase": "ask",
                       "field": "prompt", "mode": "required", "order": None}}
    state, replies = handle(CATALOG, gone, MediaSent("photo"), ctx, language_code="en")
    assert isinstance(replies[0], Reply)
    assert "no longer available" in replies[0].text and state["wizard"] is None
    broken = {**gone, "wizard": {"model": "z-image", "values": "?"}}
    state, replies = handle(CATALOG, broken, Text("a cat"), ctx, language_code="en")
    assert isinstance(replies[0], Reply)
    assert "Send /start" in replies[0].text and state["wizard"] is None


def test_a_catalog_change_between_events_resumes_with_what_still_fits() -> None:
    data = packaged_catalog_data()
    z_image = next(m for m in data["models"] if m["id"] == "z-image")
    z_image["fields"] = [f for f in z_image["fields"] if f["name"] != "aspect_ratio"]
    z_image["example"].pop("aspect_ratio")
    chat = Chat()
    start_z_image(chat)
    chat.type("a cat")
    assert "Step 2/2" in chat.text()                        # asking aspect_ratio...
    chat.catalog = parse_catalog(data)                      # ...when the node is redeployed
    chat.press("16:9")
    text, rows = chat.screen()
    assert "Prompt: a cat" in text and "Aspect ratio" not in text and "Confirm" in rows[0][0]
