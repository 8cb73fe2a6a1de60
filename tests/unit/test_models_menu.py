"""Finding a model among many (real catalog, fake context): categories, kinds, pages with
◀️ ▶️, the popular list, 🆕 badges, /models search in English and Russian, switched-off models,
and the admin commands /model and /price as the user and the admin see them."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.test_conversation_fakes import CATALOG, Chat, FakeContext
from trt_actors.catalog.model import Catalog, ModelSpec
from trt_actors.conversation.models_menu import PAGE_SIZE, is_new, search, today


def _aged(days: int = 400) -> dict[str, ModelSpec]:
    """The real catalog's models as if all were added ``days`` ago (none new)."""
    when = today() - timedelta(days=days)
    return {i: m.model_copy(update={"added": when}) for i, m in CATALOG.models.items()}


def _with_models(extra: int, *, added_days_ago: int = 400) -> Catalog:
    """The real catalog (none new) plus ``extra`` copies of Z-Image (text-to-image), added
    ``added_days_ago``."""
    base = CATALOG.get("z-image")
    models = _aged()
    for i in range(extra):
        copy = base.model_copy(update={
            "id": f"copy-{i:02d}", "added": today() - timedelta(days=added_days_ago),
            "title": base.title.model_copy(update={"en": f"Copy {i:02d}", "ru": f"Копия {i:02d}"})})
        models[copy.id] = copy
    return Catalog(models=models)


def _data_for(chat: Chat, action: list[object]) -> str:
    """The data of the current screen's button whose action starts with ``action``."""
    index = next(i for i, a in enumerate(chat.state["actions"]) if a[: len(action)] == action)
    return f"{chat.state['menu']}:{index}"


def _titles(chat: Chat) -> list[str]:
    """The model buttons of the current screen (labels with a price)."""
    return [label for label in chat.labels() if " · " in label]


def test_start_lists_categories_and_a_category_lists_its_kinds_with_counts() -> None:
    chat = Chat()
    chat.cmd("start")
    assert chat.labels()[:4] == ["🖼 Images", "🎬 Video", "🎵 Music & sound", "🗣 Speech"]
    chat.press("Images")
    text, rows = chat.screen()
    assert "what should the model do?" in text
    kinds = [label for row in rows for label in row]
    text_to_image = sum(m.kind == "text-to-image" for m in CATALOG.enabled_models())
    assert kinds[0] == f"🖼 Text to image · {text_to_image}"
    assert any("Image editing" in k for k in kinds) and kinds[-1] == "⬅️ Back"
    chat.press("Back")
    assert "What would you like to make?" in chat.text()


def test_a_long_list_has_pages_with_arrows_and_every_model_once() -> None:
    catalog = _with_models(3 * PAGE_SIZE)
    chat = Chat(catalog=catalog)
    chat.cmd("start")
    chat.press("Images")
    chat.press("Text to image")
    total = len([m for m in catalog.enabled_models() if m.kind == "text-to-image"])
    pages = -(-total // PAGE_SIZE)
    seen: list[str] = []
    for page in range(1, pages + 1):
        text = chat.screen()[0]
        assert f"page {page} of {pages}" in text
        shown = _titles(chat)
        assert len(shown) == (PAGE_SIZE if page < pages else total - PAGE_SIZE * (pages - 1))
        seen += shown
        assert ("◀️" in chat.labels()) == (page > 1)
        assert ("▶️" in chat.labels()) == (page < pages)
        if page < pages:
            chat.press("▶️")
    assert len(seen) == len(set(seen)) == total
    chat.press("◀️")
    assert f"page {pages - 1} of {pages}" in chat.screen()[0]


def test_back_from_a_model_card_returns_to_the_same_page() -> None:
    chat = Chat(catalog=_with_models(2 * PAGE_SIZE))
    chat.cmd("start")
    chat.press("Images")
    chat.press("Text to image")
    chat.press("▶️")
    title = _titles(chat)[0].split(" · ")[0]
    chat.press(title)
    assert chat.text().startswith(title) and "/gen " in chat.text()
    chat.press("Back")
    assert "page 2 of" in chat.screen()[0]


def test_popular_ranks_by_recent_jobs_then_catalog_order() -> None:
    chat = Chat(FakeContext(popular=["veo3", "no-such-model", "V5"]))
    chat.cmd("start")
    chat.press("Popular")
    assert "Popular this week" in chat.text()
    shown = _titles(chat)
    assert shown[0].startswith(f"{CATALOG.get('veo3').title.en} ·")
    assert shown[1].startswith(f"{CATALOG.get('V5').title.en} ·")
    first = CATALOG.enabled_models()[0].title.en
    assert any(first in label for label in shown[2:])  # then the catalog's order
    assert len(shown) <= PAGE_SIZE


def test_popular_without_any_job_is_the_catalog_order() -> None:
    chat = Chat()
    chat.cmd("start")
    chat.press("Popular")
    expected = [m.title.en for m in CATALOG.enabled_models()[:PAGE_SIZE]]
    assert [label.split(" · ")[0].removeprefix("🆕 ") for label in _titles(chat)] == expected


def test_new_models_have_a_badge_and_their_own_list() -> None:
    fresh = _with_models(1, added_days_ago=3).get("copy-00")
    old = _with_models(1, added_days_ago=31).get("copy-00")
    assert is_new(fresh, today()) and not is_new(old, today())
    assert not is_new(fresh, today() - timedelta(days=4))  # not yet added then
    chat = Chat(catalog=_with_models(1, added_days_ago=3))
    chat.cmd("models", "copy")
    assert _titles(chat) == ["🆕 Copy 00 · free"]
    chat.press("Copy 00")
    assert chat.text().startswith("🆕 Copy 00")
    chat.cmd("start")
    chat.press("New")
    assert "🆕 Copy 00 · free" in _titles(chat)


def test_no_new_button_when_nothing_is_new() -> None:
    chat = Chat(catalog=Catalog(models=_aged(90)))
    chat.cmd("start")
    assert not any("New" in label for label in chat.labels())
    assert not any("🆕" in label for label in chat.labels())


def test_search_matches_every_word_in_english_and_russian_any_case() -> None:
    def ids(query: str) -> set[str]:
        return {m.id for m in search(CATALOG, query)}

    kling = {m.id for m in CATALOG.enabled_models() if "kling" in m.id.lower()}
    assert kling and ids("KLING") == kling
    assert ids("kling image video") < kling                  # every word must match
    assert ids("видео") >= {"veo3", "kling-2.6/text-to-video"}  # Russian: the kind's label
    assert ids("ВИДЕО") == ids("видео")
    assert ids("music") >= {"V5", "V4_5PLUS"} and ids("музыка") == ids("music")
    assert ids("kling banana") == set() and ids("   ") == set()
    assert ids("lip") == {m.id for m in CATALOG.enabled_models() if m.kind == "lip-sync"}
    assert ids("музык") >= {"V5"}                            # a word's start: inflections
    assert search(CATALOG, "veo3")[0].id == "veo3"           # the exact id first


def test_models_command_lists_the_matches_and_a_miss_shows_the_categories() -> None:
    chat = Chat()
    chat.cmd("models", "banana edit")
    text = chat.screen()[0]
    assert "banana edit" in text
    assert any(label.startswith("Nano Banana Edit") for label in _titles(chat))
    chat.press("Nano Banana Edit")
    assert "/gen google/nano-banana-edit" in chat.text()
    chat.cmd("models", "xyzzy")
    assert "No model matches “xyzzy”" in chat.text()
    assert "🖼 Images" in chat.labels() and "🔥 Popular" in chat.labels()
    chat.cmd("models")
    assert "/models <words>" in chat.text() and "🎬 Video" in chat.labels()


def test_a_model_switched_off_leaves_menus_and_search_and_gen_says_so() -> None:
    ctx = FakeContext(is_admin=True)
    chat = Chat(ctx)
    chat.cmd("model", "off veo3")
    assert "veo3 is off" in chat.text()
    chat.catalog = ctx.effective()  # what the chat actor reads for the next update
    assert "veo3" not in {m.id for m in search(chat.catalog, "veo")}
    chat.cmd("start")
    chat.press("Video")
    chat.press("Text to video")
    veo = CATALOG.get("veo3").title.en
    while True:
        assert not any(label.removeprefix("🆕 ").startswith(f"{veo} ·")
                       for label in _titles(chat))
        if "▶️" not in chat.labels():
            break
        chat.press("▶️")
    chat.cmd("gen", "veo3 prompt=waves")
    assert f"{veo} is turned off for now" in chat.text()
    assert ctx.jobs == []


def test_a_wizard_or_card_of_a_model_switched_off_meanwhile_stops_with_a_clear_line() -> None:
    ctx = FakeContext(is_admin=True)
    chat = Chat(ctx)
    chat.cmd("models", "veo3")
    chat.press_data(_data_for(chat, ["model", "veo3"]))  # its card, on screen after the switch
    ctx.set_model_enabled("veo3", False)
    chat.catalog = ctx.effective()
    chat.press("Start")
    assert "turned off for now" in chat.text() and chat.state["wizard"] is None
    ctx.set_model_enabled("veo3", True)
    chat.catalog = ctx.effective()
    chat.cmd("gen", "veo3 prompt=waves")
    assert "Please check your order" in chat.text()
    ctx.set_model_enabled("veo3", False)
    chat.catalog = ctx.effective()
    chat.press("Confirm")
    assert "turned off for now" in chat.text() and ctx.jobs == []


def test_price_command_sets_and_resets_and_is_for_admins_only() -> None:
    user = Chat(FakeContext())
    user.cmd("price", "google/nano-banana 7")
    assert "administrators only" in user.text() and user.ctx.model_settings == {}
    ctx = FakeContext(is_admin=True)
    admin = Chat(ctx)
    base = CATALOG.get("google/nano-banana").price
    admin.cmd("price", "google/nano-banana 7")
    assert "google/nano-banana now costs 7 credits" in admin.text()
    assert ctx.effective().get("google/nano-banana").price == 7
    admin.cmd("price", "google/nano-banana reset")
    assert f"back at the catalog's price: {base} credit" in admin.text()
    assert ctx.effective().get("google/nano-banana").price == base
    for bad in ("google/nano-banana 0", "google/nano-banana -3", "google/nano-banana x",
                "google/nano-banana ²", "google/nano-banana", "google/nano-banana 1 2"):
        admin.cmd("price", bad)
        assert "Usage: /price" in admin.text(), bad
    admin.cmd("price", "nope 5")
    assert "no model “nope”" in admin.text()
    admin.cmd("price", "z-image 5")
    assert "free model" in admin.text() and ctx.effective().get("z-image").price == 0


def test_model_command_usage_and_unknown_ids() -> None:
    admin = Chat(FakeContext(is_admin=True))
    for bad in ("", "off", "maybe veo3", "on veo3 extra"):
        admin.cmd("model", bad)
        assert "Usage: /model off" in admin.text(), bad
    admin.cmd("model", "off nope")
    assert "no model “nope”" in admin.text()
    admin.cmd("model", "on veo3")
    assert "veo3 is on" in admin.text()


def test_price_labels_show_from_when_inputs_change_the_price() -> None:
    chat = Chat()
    chat.cmd("models", "kling 2.6 text")
    model: ModelSpec = CATALOG.get("kling-2.6/text-to-video")
    low, high = model.price_range()
    assert low < high
    assert any(label.endswith(f"· from {low} credits") for label in _titles(chat))


def test_a_price_charged_at_its_worst_case_says_up_to_on_the_card_and_in_lists() -> None:
    """Topaz bills by the result's size, unknown until KIE has the image: the order is held
    at the largest bucket, so the card says "up to" that, never "from" the smallest."""
    model: ModelSpec = CATALOG.get("topaz/image-upscale")
    low, high = model.price_range()
    assert model.charges_worst_case and low < high
    chat = Chat()
    chat.cmd("models", "topaz upscale")
    assert any(label.endswith(f"· up to {high} credits") for label in _titles(chat))
    assert not any(f"from {low}" in label for label in _titles(chat))
    chat.press("Topaz Upscale")
    assert f"up to {high} credits" in chat.text()           # the card
    ru = Chat(language_code="ru")
    ru.cmd("models", "topaz")
    assert any(f"до {high}" in label for label in _titles(ru)), _titles(ru)


def test_again_under_a_result_of_a_model_switched_off_says_so() -> None:
    ctx = FakeContext(is_admin=True)
    ctx.jobs.append({"id": 1, "model": "google/nano-banana", "inputs": {"prompt": "fox"},
                     "price": 2, "state": "delivered", "failure": None,
                     "urls": ("https://example.com/r.png",)})
    chat = Chat(ctx)
    ctx.set_model_enabled("google/nano-banana", False)
    chat.catalog = ctx.effective()
    chat.press_data("again:1")
    assert "turned off for now" in chat.text() and chat.state["wizard"] is None
