"""Results feed the next step: the buttons under a result, the prefilled wizard, "Again"
(real catalog, fake context)."""

from __future__ import annotations

import copy

from tests.unit.test_conversation_fakes import CATALOG, Chat
from trt_actors.conversation.next_step import RESULT_LIVE_S, groups, result_buttons

PROMPT = "a red fox in the snow"
RESULT = "https://kie.example/results/fox.png"


def delivered_z_image(chat: Chat) -> int:
    """/start → Free → Z-Image → prompt → 16:9 → Confirm; the job delivered with RESULT."""
    chat.cmd("start")
    chat.press("Free")
    chat.press("Z-Image")
    chat.press("Start")
    chat.type(PROMPT)
    chat.press("16:9")
    chat.press("Confirm")
    job = chat.ctx.jobs[-1]
    job.update(state="delivered", urls=(RESULT,))
    return int(job["id"])


def labels(rows: list[list[dict[str, str]]]) -> list[str]:
    return [b["label"] for row in rows for b in row]


def test_an_image_result_offers_what_the_catalog_allows_and_again() -> None:
    rows = result_buttons(CATALOG, "en", 12345678, "z-image")
    assert labels(rows) == ["✏️ Edit", "🎞 Animate", "🔍 Upscale", "✂️ Remove background",
                            "🔁 Again"]
    assert all(len(b["data"].encode()) <= 64 for row in rows for b in row)
    assert rows[-1] == [{"label": "🔁 Again", "data": "again:12345678"}]
    assert [m.id for m in groups(CATALOG, "image")["nobg"]] == ["recraft/remove-background"]
    assert "qwen/image-edit" in [m.id for m in groups(CATALOG, "image")["edit"]]
    # A video or a song goes on to the models that take one
    assert labels(result_buttons(CATALOG, "ru", 1, "kling-2.6/text-to-video")) == [
        "🔄 Видео по видео", "🔍 Увеличение видео", "🔁 Ещё раз"]
    assert labels(result_buttons(CATALOG, "en", 1, "V5")) == [
        "👄 Avatars and lip-sync", "📝 Speech to text", "🎙 Voice isolation", "🔁 Again"]
    assert result_buttons(CATALOG, "en", 1, "no/such-model") == []


def test_edit_picks_a_model_asks_only_the_prompt_and_orders_with_the_result_url() -> None:
    chat = Chat()
    job = delivered_z_image(chat)
    chat.press_data(f"next:{job}:edit")
    text, _ = chat.screen()
    assert f"result #{job}" in text
    assert "Qwen Image Edit" in chat.labels() and "Kling" not in " ".join(chat.labels())
    replies = chat.press("Qwen Image Edit")
    assert f"Using result #{job} as the input" in chat.text()
    assert "Step 1/2 · " in chat.text()                # the prompt: the image is filled
    assert [getattr(r, "replace", None) for r in replies] == [True], "the picker becomes it"
    chat.type("make it night")
    chat.press("Use defaults")
    text, _ = chat.screen()
    assert "Please check your order" in text and RESULT in text
    chat.press("Confirm")
    assert [j["model"] for j in chat.ctx.jobs] == ["z-image", "qwen/image-edit"]
    assert chat.ctx.jobs[-1]["inputs"]["image_url"] == RESULT
    assert chat.ctx.jobs[-1]["inputs"]["prompt"] == "make it night"


def test_a_group_of_one_model_starts_it_at_once() -> None:
    chat = Chat()
    job = delivered_z_image(chat)
    chat.press_data(f"next:{job}:nobg")                 # Remove Background: only the image
    text, _ = chat.screen()
    assert "Please check your order" in text and RESULT in text
    assert chat.state["wizard"]["model"] == "recraft/remove-background"


def test_a_list_field_gets_the_result_as_its_one_item() -> None:
    chat = Chat()
    job = delivered_z_image(chat)
    chat.press_data(f"next:{job}:animate")
    chat.press("Kling 2.6")
    assert chat.state["wizard"]["values"] == {"image_urls": [RESULT]}


def test_again_shows_a_new_confirm_screen_and_a_double_press_makes_one_job() -> None:
    chat = Chat()
    job = delivered_z_image(chat)
    credits = chat.ctx.credits
    chat.press_data(f"again:{job}")
    text, _ = chat.screen()
    assert "Please check your order" in text and PROMPT in text and "16:9" in text
    assert len(chat.ctx.jobs) == 1 and chat.ctx.credits == credits, "nothing charged yet"
    confirm = chat.button("Confirm")
    chat.press_data(confirm.data)
    chat.press_data(confirm.data)                      # double tap
    assert len(chat.ctx.jobs) == 2
    assert chat.ctx.jobs[1]["model"] == "z-image"
    assert chat.ctx.jobs[1]["inputs"] == chat.ctx.jobs[0]["inputs"]


def test_again_on_a_paid_result_checks_the_price_and_balance_again() -> None:
    chat = Chat()
    chat.cmd("gen", f'google/nano-banana prompt="{PROMPT}"')
    chat.press("Confirm")
    chat.ctx.jobs[-1].update(state="delivered", urls=(RESULT,))
    chat.ctx.credits = 1
    chat.press_data("again:1")
    assert "Please check your order" in chat.screen()[0]
    chat.press("Confirm")
    assert len(chat.ctx.jobs) == 1, "not enough credits: no job, no hold"
    assert "credits" in chat.text().lower()


def test_a_gone_or_foreign_result_answers_clearly_and_changes_nothing() -> None:
    chat = Chat()
    delivered_z_image(chat)
    chat.cmd("gen", "qwen/image-edit")                  # a wizard in progress
    before = copy.deepcopy(chat.state)
    for data in ("next:99:edit", "again:99", "next:x:edit", "again:"):
        chat.press_data(data)
        assert "no longer available" in chat.text()
        assert chat.state == before
    chat.ctx.jobs[0]["state"] = "failed"                # not a delivered result
    chat.press_data("again:1")
    assert "no longer available" in chat.text() and chat.state == before
    chat.ctx.jobs[0]["state"] = "delivered"
    chat.press_data("next:1:teleport")                  # a group the catalog no longer has
    assert "No model takes" in chat.text() and chat.state == before


def test_a_result_kie_no_longer_keeps_is_not_offered_but_again_still_works() -> None:
    chat = Chat()
    job = delivered_z_image(chat)
    chat.press_data(f"next:{job}:edit")                 # the picker is open ...
    picker = chat.button("Qwen Image Edit")
    chat.ctx.jobs[0]["age_s"] = RESULT_LIVE_S + 1       # ... when the result expires
    before = copy.deepcopy(chat.state)
    for data in (f"next:{job}:edit", f"next:{job}:nobg", picker.data):
        chat.press_data(data)
        assert "no longer available" in chat.text() and chat.state == before
    chat.press_data(f"again:{job}")                     # only the inputs are needed
    assert "Please check your order" in chat.screen()[0]
