"""The conversation engine: menu, catalog, wizard, confirm, /gen (real catalog, fake context)."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.test_conversation_fakes import CATALOG, Chat, FakeContext
from trt_actors.catalog.model import FieldSpec, FieldType
from trt_actors.catalog.validation import validate_input
from trt_actors.conversation.commands import gen_command
from trt_actors.conversation.engine import ButtonPressed, Reply, handle

PROMPT = "a red fox in the snow"


def walk_z_image(chat: Chat) -> None:
    """/start → Free → Z-Image → Start → prompt → 16:9: ends on the confirm screen."""
    chat.cmd("start")
    chat.press("Free")
    chat.press("Z-Image")
    chat.press("Start")
    chat.type(PROMPT)
    chat.press("16:9")


def test_start_shows_balance_categories_and_free_section() -> None:
    chat = Chat()
    chat.cmd("start")
    assert "100 credits" in chat.text() and "/models" in chat.text()
    labels = chat.labels()
    for kind in ("Images", "Video", "Music", "Speech", "Popular", "Free models", "Top up",
                 "Language"):
        assert any(kind in label for label in labels), kind


def test_kind_list_shows_models_with_prices_and_card_explains_the_model() -> None:
    chat = Chat()
    chat.cmd("start")
    chat.press("Video")
    chat.press("Text to video")
    assert "Kling 2.6 · from 28 credits" in chat.labels()
    chat.press("Kling 2.6")
    card = chat.text()
    assert "from 28 credits" in card and "min" in card       # price and expected time
    assert "/gen kling-2.6/text-to-video" in card         # an example, as a shortcut
    chat.press("Back")
    assert "choose a model" in chat.text()


def test_free_model_walk_counts_steps_and_confirm_creates_one_job() -> None:
    chat = Chat()
    chat.cmd("start")
    chat.press("Free")
    chat.press("Z-Image")
    assert "free" in chat.text()
    chat.press("Start")
    assert "Step 1/2" in chat.text() and "1000 characters" in chat.text()
    chat.type(PROMPT)
    assert "Step 2/2" in chat.text()
    assert chat.labels()[:5] == ["1:1", "4:3", "3:4", "16:9", "9:16"]   # enum as buttons
    chat.press("16:9")
    text, rows = chat.screen()
    assert PROMPT in text and "16:9" in text and "free" in text
    assert "Confirm" in rows[0][0]                       # the FIRST button confirms
    chat.press("Confirm")
    assert "Job #1 accepted" in chat.text()
    assert chat.ctx.jobs == [{"id": 1, "model": "z-image", "price": 0, "state": "created",
                              "inputs": {"prompt": PROMPT, "aspect_ratio": "16:9"},
                              "failure": None, "urls": ()}]


def test_mistyped_enum_says_what_is_allowed_and_asks_again_keeping_answers() -> None:
    chat = Chat()
    walk_z_image(chat)
    chat.cmd("start")
    chat.press("Free")
    chat.press("Z-Image")
    chat.press("Start")
    chat.type(PROMPT)
    chat.type("16x9")
    assert "Choose one of: 1:1, 4:3, 3:4, 16:9, 9:16" in chat.text()
    assert "Step 2/2" in chat.text()
    chat.type("9:16")                                      # typed enum values work too
    assert PROMPT in chat.screen()[0] and "9:16" in chat.screen()[0]


def test_bad_url_and_photo_and_telegram_link_ask_the_same_question_again() -> None:
    chat = Chat()
    chat.cmd("gen", "")  # harmless: usage only
    chat.cmd("start")
    chat.press("Images")
    chat.press("Image editing")
    chat.press("Qwen Image Edit")
    chat.press("Start")
    chat.type("make it snow")
    assert "Step 2/2" in chat.text() and "http" in chat.text()
    chat.type("not a link")
    assert "link" in chat.text() and "Step 2/2" in chat.text()
    chat.media("sticker")  # not a file a model takes (photos: test_conversation_files)
    assert "an image" in chat.text() and "Step 2/2" in chat.text()
    token_url = "https://api.telegram.org/file/bot123456789:AAHsecretsecretsecretsecret/p.jpg"
    chat.type(token_url)
    assert "Telegram" in chat.text() and "Step 2/2" in chat.text()
    assert "AAHsecret" not in chat.text()
    chat.type("https://example.com/cat.png")
    assert "Optional settings" in chat.text()


def test_boolean_field_is_asked_with_yes_no_buttons() -> None:
    chat = Chat()
    chat.cmd("gen", "nope")
    chat.cmd("start")
    chat.press("Video")
    chat.press("Text to video")
    chat.press("Kling 2.6")
    chat.press("Start")
    chat.type("waves at night")
    assert "Step 2/4" in chat.text()
    assert chat.labels()[:2] == ["✅ Yes", "🚫 No"]
    chat.press("Yes")
    assert "Step 3/4" in chat.text()
    chat.press("16:9")
    chat.press("10")
    text = chat.screen()[0]
    assert "Sound: yes" in text and "Duration, s: 10" in text


def test_optional_fields_use_defaults() -> None:
    chat = Chat()
    chat.cmd("start")
    chat.press("Free")
    chat.press("Qwen Image")
    chat.press("Start")
    chat.type(PROMPT)
    assert "Optional settings" in chat.text() and "default (square_hd)" in chat.text()
    chat.press("Use defaults")
    chat.press("Confirm")
    assert chat.ctx.jobs[0]["inputs"]["image_size"] == "square_hd"
    assert "seed" not in chat.ctx.jobs[0]["inputs"]


def test_optional_fields_change_one_then_continue() -> None:
    chat = Chat()
    chat.cmd("start")
    chat.press("Free")
    chat.press("Qwen Image")
    chat.press("Start")
    chat.type(PROMPT)
    chat.press("Seed")
    assert "(optional)" in chat.text()
    chat.type("-3")
    assert "whole number from 0" in chat.text() and "(optional)" in chat.text()
    chat.type("42")
    assert "Seed: 42" in chat.text()
    chat.press("Image size")
    chat.press("portrait_16_9")
    chat.press("Continue")
    chat.press("Confirm")
    inputs = chat.ctx.jobs[0]["inputs"]
    assert inputs["seed"] == 42 and inputs["image_size"] == "portrait_16_9"


def test_change_a_setting_from_the_confirm_screen() -> None:
    chat = Chat()
    walk_z_image(chat)
    chat.press("Change a setting")
    chat.press("Aspect ratio")
    chat.press("1:1")
    text, rows = chat.screen()
    assert "Aspect ratio: 1:1" in text and "Confirm" in rows[0][0]


def test_double_confirm_returns_the_same_job_once() -> None:
    chat = Chat()
    walk_z_image(chat)
    confirm = chat.button("Confirm")
    chat.press_data(confirm.data)
    chat.press_data(confirm.data)                          # double tap
    assert "Job #1 accepted" in chat.text()
    assert len(chat.ctx.jobs) == 1


def test_replayed_confirm_after_a_crash_finds_the_same_job() -> None:
    chat = Chat()
    walk_z_image(chat)
    saved = copy.deepcopy(chat.state)                      # the state before the crash
    press = ButtonPressed(chat.button("Confirm").data, message_id=1)
    handle(CATALOG, saved, press, chat.ctx, language_code="en")
    _, replies = handle(CATALOG, saved, press, chat.ctx, language_code="en")
    assert isinstance(replies[0], Reply) and "Job #1 accepted" in replies[0].text
    assert len(chat.ctx.jobs) == 1


def test_buttons_of_an_old_menu_have_expired() -> None:
    chat = Chat()
    chat.cmd("start")
    old = chat.button("Free")
    chat.press("Images")
    chat.press_data(old.data)
    assert "This menu has expired" in chat.text()
    chat.press_data("garbage")
    assert "This menu has expired" in chat.text()


def test_gen_reaches_the_same_confirm_screen_as_the_wizard() -> None:
    wizard_chat = Chat()
    walk_z_image(wizard_chat)
    gen_chat = Chat()
    gen_chat.cmd("gen", f'z-image prompt="{PROMPT}" aspect_ratio=16:9')
    assert gen_chat.screen() == wizard_chat.screen()
    gen_chat.press("Confirm")
    assert gen_chat.ctx.jobs[0]["inputs"] == {"prompt": PROMPT, "aspect_ratio": "16:9"}


def test_gen_lists_every_problem_clearly() -> None:
    chat = Chat()
    chat.cmd("gen", "no-such-model prompt=x")
    assert "Unknown model “no-such-model”" in chat.text()
    chat.cmd("gen", 'z-image prompt="unclosed')
    assert "check the quotes" in chat.text()
    chat.cmd("gen", "z-image prompt=cat aspect_ratio=2:1 colour=red loose")
    text = chat.text()
    assert "Choose one of: 1:1" in text
    assert "no field “colour”" in text and "“loose” is not field=value" in text
    chat.cmd("gen", "topaz/image-upscale upscale_factor=2")
    assert "Image link: This is required" in chat.text()
    chat.cmd("gen", "")
    assert "Usage: /gen" in chat.text()
    assert chat.ctx.jobs == []


def test_insufficient_credits_says_how_many_and_confirm_works_after_topping_up() -> None:
    chat = Chat(FakeContext(credits=1))
    chat.cmd("gen", 'kling-2.6/text-to-video prompt="waves" sound=no aspect_ratio=16:9 '
                    "duration=5")
    chat.press("Confirm")
    text = chat.text()
    assert "28 credits" in text and "1 credit" in text and "/topup" in text
    assert chat.ctx.jobs == []
    chat.ctx.credits = 100
    chat.press("Confirm")                                   # the screen is still current
    assert "Job #1 accepted" in chat.text() and chat.ctx.credits == 72


def test_free_daily_limit_is_explained() -> None:
    chat = Chat(FakeContext(free_limit=0))
    walk_z_image(chat)
    chat.press("Confirm")
    assert "Free generations are switched off" in chat.text()  # a limit of 0: none at all
    assert chat.ctx.jobs == []
    chat = Chat(FakeContext(free_limit=1))
    walk_z_image(chat)
    chat.press("Confirm")
    walk_z_image(chat)
    chat.press("Confirm")
    assert "used all 1 free generations for today" in chat.text()
    assert len(chat.ctx.jobs) == 1


def test_text_on_a_button_screen_repeats_the_screen() -> None:
    chat = Chat()
    walk_z_image(chat)
    chat.type("hello?")
    assert "use the buttons" in chat.text() and "Confirm" in chat.labels()[0]


def test_every_catalog_model_is_orderable_through_the_wizard_with_its_example() -> None:
    """Walks each model's card, every question, options and edit screens (64-byte check);
    follow-ups start from a result instead (test_conversation_follow_ups)."""
    for model in CATALOG.offered_models():
        chat = Chat(FakeContext(credits=10_000))
        chat.cmd("models", model.id)
        chat.press_data(_data_for(chat, ["model", model.id]))
        chat.press("Start")
        example = model.example
        for field in model.required_fields:
            _answer(chat, field, example[field.name])
        if model.optional_fields:
            for field in model.optional_fields:
                if field.name in example:
                    chat.press_data(_data_for(chat, ["field", field.name]))
                    _answer(chat, field, example[field.name])
            chat.press("✅")
        chat.press("Change a setting")
        chat.press("Back")
        chat.press("Confirm")
        assert "accepted" in chat.text(), model.id
        assert chat.ctx.jobs[0]["inputs"] == validate_input(model, example), model.id
        assert all(len(data.encode()) <= 64 for data in chat.all_data)


def test_every_model_cards_gen_shortcut_reaches_the_confirm_screen() -> None:
    for model in CATALOG.offered_models():
        chat = Chat()
        chat.cmd("gen", gen_command(model, model.example).removeprefix("/gen "))
        assert "Confirm" in chat.labels()[0], (model.id, chat.text())
        assert chat.state["wizard"]["order"]["inputs"] == validate_input(model, model.example)


def _data_for(chat: Chat, action: list[Any]) -> str:
    """The data of the current menu's button whose action starts with ``action``."""
    actions = chat.state["actions"]
    index = next(i for i, a in enumerate(actions) if a[: len(action)] == action)
    return f"{chat.state['menu']}:{index}"


def _answer(chat: Chat, field: FieldSpec, value: Any) -> None:
    if field.type is FieldType.ENUM:
        chat.press_data(_data_for(chat, ["set", value]))
    elif field.type is FieldType.BOOLEAN:
        chat.press("Yes" if value else "No")
    elif isinstance(value, list):
        chat.type(" ".join(value))
    else:
        chat.type(str(value))
    assert "❌" not in chat.text(), (field.name, chat.text())
