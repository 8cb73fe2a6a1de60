"""Follow-ups continue a delivered result: Veo's extend and 4K, Suno's extend are buttons under
the result, prefilled with the KIE ids the user never sees, and in no menu, search or /gen
(real catalog, fake context)."""

from __future__ import annotations

import copy

import pytest

from tests.unit.test_conversation import _answer, _data_for
from tests.unit.test_conversation_fakes import CATALOG, Chat, FakeContext
from trt_actors.catalog.follows import SourceValue
from trt_actors.catalog.model import packaged_catalog_data, parse_catalog
from trt_actors.catalog.validation import validate_input
from trt_actors.conversation.models_menu import categories, search
from trt_actors.conversation.next_step import RESULT_LIVE_S, result_buttons
from trt_actors.errors import CatalogError

VIDEO = "https://kie.example/results/fox.mp4"
SONG = ("https://kie.example/results/song-0.mp3", "https://kie.example/results/song-1.mp3")
TASK = "veo_task_5f1e0c"
FOLLOW_UPS = ("veo3_fast-extend", "veo3-4k", "V4_5PLUS-extend")


def delivered(chat: Chat, gen: str, urls: tuple[str, ...], **job: object) -> int:
    """An order through /gen, confirmed, and then delivered with ``urls``."""
    chat.ctx.credits = 1000
    chat.cmd("gen", gen)
    chat.press("Confirm")
    row = chat.ctx.jobs[-1]
    row.update(state="delivered", urls=urls, **job)
    return int(row["id"])


def labels(rows: list[list[dict[str, str]]]) -> list[str]:
    return [b["label"] for row in rows for b in row]


def test_a_veo_result_offers_extend_and_4k_by_job_never_by_kie_id() -> None:
    rows = result_buttons(CATALOG, "en", 12345678901234, "veo3_fast")
    assert labels(rows)[:2] == ["🎬 Extend", "📺 4K"] and labels(rows)[-1] == "🔁 Again"
    data = [b["data"] for row in rows for b in row]
    assert data[:2] == ["follow:12345678901234:veo3_fast-extend",
                        "follow:12345678901234:veo3-4k"]
    assert all(len(d.encode()) <= 64 and "veo_task" not in d for d in data)
    assert labels(result_buttons(CATALOG, "ru", 1, "veo3"))[:2] == ["🎬 Продолжить", "📺 4K"]
    assert labels(result_buttons(CATALOG, "en", 1, "V4_5PLUS"))[0] == "🎵 Extend"
    # Only under the models they continue: not under another video or song
    assert "🎬 Extend" not in labels(result_buttons(CATALOG, "en", 1, "kling-2.6/text-to-video"))
    assert "🎵 Extend" not in labels(result_buttons(CATALOG, "en", 1, "V5"))


def test_extend_asks_only_the_prompt_and_orders_with_the_source_task_id() -> None:
    chat = Chat()
    job = delivered(chat, 'veo3_fast prompt="a fox runs"', (VIDEO,), task_id=TASK)
    chat.press_data(f"follow:{job}:veo3_fast-extend")
    assert f"Continuing result #{job}" in chat.text()
    assert "Describe how the video continues" in chat.text()   # the one question left
    assert "task id" not in chat.text().lower()
    chat.type("the fox jumps over a fence")
    text, _ = chat.screen()
    assert "Please check your order" in text and TASK not in text  # the id stays the bot's
    assert "30" in text                                             # the price: 60 KIE × 0.5
    chat.press("Confirm")
    order = chat.ctx.jobs[-1]
    assert order["model"] == "veo3_fast-extend"
    assert order["inputs"] == {"taskId": TASK, "prompt": "the fox jumps over a fence"}


def test_4k_goes_straight_to_the_order_with_the_source_task_id() -> None:
    chat = Chat()
    job = delivered(chat, 'veo3 prompt="a fox runs"', (VIDEO,), task_id=TASK)
    chat.press_data(f"follow:{job}:veo3-4k")
    chat.press("Use defaults")                          # which video: the first, by default
    assert "Please check your order" in chat.screen()[0]
    chat.press("Confirm")
    assert chat.ctx.jobs[-1]["model"] == "veo3-4k"
    assert chat.ctx.jobs[-1]["inputs"] == {"taskId": TASK, "index": 0}


def test_suno_extend_is_prefilled_with_the_first_track_s_audio_id() -> None:
    chat = Chat()
    job = delivered(chat, 'V4_5PLUS prompt="a calm song" customMode=false instrumental=false',
                    SONG, task_id="suno-task-1", result_ids=("track-a", "track-b"))
    chat.press_data(f"follow:{job}:V4_5PLUS-extend")
    assert "Id of the track" not in chat.text()
    chat.press("No")                                    # continue with the song's own style
    chat.press("Use defaults")
    assert "Please check your order" in chat.screen()[0]
    chat.press("Confirm")
    order = chat.ctx.jobs[-1]
    assert order["model"] == "V4_5PLUS-extend"
    assert order["inputs"]["audioId"] == "track-a" and order["inputs"]["defaultParamFlag"] is False


def test_suno_extend_with_its_own_style_asks_for_what_kie_then_requires() -> None:
    chat = Chat()
    job = delivered(chat, 'V4_5PLUS prompt="a calm song" customMode=false instrumental=false',
                    SONG, result_ids=("track-a", "track-b"))
    chat.press_data(f"follow:{job}:V4_5PLUS-extend")
    chat.press("Yes")
    chat.press("Use defaults")                          # nothing set: KIE would refuse it
    text = chat.text()
    assert "Required when you set the continuation's own lyrics and style" in text
    assert len(chat.ctx.jobs) == 1, "no order KIE refuses"


def test_a_follow_up_is_in_no_menu_search_or_gen() -> None:
    listed = {m.id for models in categories(CATALOG).values() for m in models}
    assert listed and not listed & set(FOLLOW_UPS)
    for query in ("extend", "продолжение", "4K", "veo", "suno"):
        assert not {m.id for m in search(CATALOG, query)} & set(FOLLOW_UPS), query
    assert {m.id for m in search(CATALOG, "veo")} >= {"veo3", "veo3_fast"}
    chat = Chat()
    for model in FOLLOW_UPS:
        chat.cmd("gen", f"{model} taskId=veo_task_typed prompt=more")
        assert "continues a result: use the button under it" in chat.text()
    assert chat.ctx.jobs == [] and not chat.state.get("wizard")


def test_a_follow_up_of_a_gone_foreign_old_or_wrong_result_changes_nothing() -> None:
    chat = Chat()
    job = delivered(chat, 'veo3_fast prompt="a fox runs"', (VIDEO,), task_id=TASK)
    chat.cmd("gen", "qwen/image-edit")                  # a wizard in progress
    before = copy.deepcopy(chat.state)
    for data in ("follow:99:veo3_fast-extend", "follow:x:veo3-4k"):
        chat.press_data(data)                           # no such job of this user
        assert "no longer available" in chat.text() and chat.state == before
    chat.press_data(f"follow:{job}:V4_5PLUS-extend")    # not a follow-up of a Veo result
    assert chat.state == before
    chat.ctx.jobs[0]["age_s"] = RESULT_LIVE_S + 1       # KIE no longer keeps the source
    chat.press_data(f"follow:{job}:veo3_fast-extend")
    assert "no longer available" in chat.text() and chat.state == before
    chat.ctx.jobs[0].update(age_s=60.0, task_id=None)   # KIE never named the task
    chat.press_data(f"follow:{job}:veo3_fast-extend")
    assert "No model takes" in chat.text() and chat.state == before


def test_every_follow_up_is_orderable_from_a_result_with_its_example() -> None:
    """From each source model's result: the prefilled fields never asked, the rest answered
    with the example, options, edit screen (without the prefilled ones), confirm."""
    follow_ups = [m for m in CATALOG.models.values() if m.follows is not None]
    assert {m.id for m in follow_ups} >= set(FOLLOW_UPS)
    for model in follow_ups:
        assert model.follows is not None
        example = model.example
        source = {what: example[name] for name, what in model.follows.fields.items()}
        for source_model in model.follows.models:
            chat = Chat(FakeContext(credits=10_000))
            chat.ctx.jobs.append({
                "id": 1, "model": source_model, "inputs": {}, "state": "delivered",
                "urls": ("https://kie.example/r/1",), "price": 1,
                "task_id": source.get(SourceValue.TASK_ID),
                "result_ids": (source[SourceValue.AUDIO_ID],)
                if SourceValue.AUDIO_ID in source else ()})
            chat.press_data(f"follow:1:{model.id}")
            for field in model.required_fields:
                if field.name not in model.prefilled_fields:
                    _answer(chat, field, example[field.name])
            for field in model.optional_fields:
                if field.name in example:
                    chat.press_data(_data_for(chat, ["field", field.name]))
                    _answer(chat, field, example[field.name])
            if model.optional_fields:
                chat.press("✅")
            chat.press("Change a setting")
            editable = {a[1] for a in chat.state["actions"] if a[:1] == ["field"]}
            assert editable and not editable & model.prefilled_fields, model.id
            chat.press("Back")
            chat.press("Confirm")
            assert "accepted" in chat.text(), (model.id, chat.text())
            assert chat.ctx.jobs[-1]["inputs"] == validate_input(model, example), model.id
            assert all(len(data.encode()) <= 64 for data in chat.all_data)


def test_a_wrong_follows_refuses_the_catalog_with_one_line_naming_it() -> None:
    def broken(change: dict[str, object]) -> str:
        data = copy.deepcopy(packaged_catalog_data())
        entry = next(m for m in data["models"] if m["id"] == "veo3_fast-extend")
        entry["follows"] = {**entry["follows"], **change}
        with pytest.raises(CatalogError) as refused:
            parse_catalog(data)
        assert "\n" not in str(refused.value)
        return str(refused.value)

    assert "'veo3_fast-extend' follows: 'veo4'" in broken({"models": ["veo4"]})
    assert "is not a model" in broken({"models": ["veo3-4k"]})  # a follow-up of a follow-up
    assert "follows.fields must name required string fields" in broken(
        {"fields": {"prompt2": "task_id"}})
    assert "follows" in broken({"fields": {"taskId": "job_id"}})
