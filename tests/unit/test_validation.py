"""What users type becomes exactly what KIE receives, or a clear message in their language."""

from __future__ import annotations

from typing import Any

import pytest

from trt_actors.catalog.model import Catalog, FieldSpec, ModelSpec, load_catalog
from trt_actors.catalog.validation import FieldRejected, InputRejected, parse_field, validate_input

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CAT = "https://upload.wikimedia.org/wikipedia/commons/3/3a/Cat03.jpg"
DOG = "https://upload.wikimedia.org/wikipedia/commons/2/26/YellowLabradorLooking_new.jpg"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def field(catalog: Catalog, model_id: str, name: str) -> FieldSpec:
    return catalog.get(model_id).field(name)


def rejected(spec: FieldSpec, text: str) -> FieldRejected:
    with pytest.raises(FieldRejected) as caught:
        parse_field(spec, text)
    assert caught.value.field == spec.name
    return caught.value


# --- parse_field -----------------------------------------------------------------------------


def test_string_is_stripped_and_length_checked(catalog: Catalog) -> None:
    prompt = field(catalog, "z-image", "prompt")
    assert parse_field(prompt, "  a red fox \n") == "a red fox"
    too_long = rejected(prompt, "x" * 1204)
    assert too_long.message.en == "At most 1000 characters (you sent 1204)"
    assert too_long.message.ru == "Максимум символов: 1000 (вы отправили 1204)"
    assert rejected(prompt, "   ").message.en.startswith("Send text")
    short = rejected(field(catalog, "flux-2/pro-text-to-image", "prompt"), "ab")
    assert "At least 3 characters" in short.message.en


def test_integer_parses_and_checks_its_range(catalog: Catalog) -> None:
    steps = field(catalog, "qwen/text-to-image", "num_inference_steps")
    assert parse_field(steps, " 40 ") == 40
    assert parse_field(steps, "2") == 2 and parse_field(steps, "250") == 250
    for text in ("1", "251", "4.5", "forty", "", "1e3"):
        message = rejected(steps, text).message
        assert message.en == "Send a whole number from 2 to 250"
        assert message.ru == "Отправьте целое число от 2 до 250"


def test_number_accepts_a_decimal_comma(catalog: Catalog) -> None:
    speed = field(catalog, "elevenlabs/text-to-speech-turbo-2-5", "speed")
    assert parse_field(speed, "0,8") == pytest.approx(0.8)
    assert parse_field(speed, "1.2") == pytest.approx(1.2)
    assert parse_field(speed, "1") == 1.0
    for text in ("1.5", "nan", "inf", "fast", "0,7,1"):
        message = rejected(speed, text).message
        assert message.en == "Send a number from 0.7 to 1.2"
        assert message.ru == "Отправьте число от 0,7 до 1,2"


@pytest.mark.parametrize("text", ["yes", "Yes", "true", "TRUE", "1", "да", "Да", "on"])
def test_boolean_yes(catalog: Catalog, text: str) -> None:
    assert parse_field(field(catalog, "kling-2.6/text-to-video", "sound"), text) is True


@pytest.mark.parametrize("text", ["no", "false", "0", "нет", "НЕТ", "off"])
def test_boolean_no(catalog: Catalog, text: str) -> None:
    assert parse_field(field(catalog, "kling-2.6/text-to-video", "sound"), text) is False


def test_boolean_rejects_anything_else(catalog: Catalog) -> None:
    message = rejected(field(catalog, "kling-2.6/text-to-video", "sound"), "maybe").message
    assert message.en == "Answer yes or no" and "да" in message.ru


def test_enum_matches_exactly_or_by_case_and_returns_the_canonical_value(
    catalog: Catalog,
) -> None:
    ratio = field(catalog, "z-image", "aspect_ratio")
    assert parse_field(ratio, "16:9") == "16:9"
    speed = field(catalog, "ideogram/v3-reframe", "rendering_speed")
    assert parse_field(speed, "turbo") == "TURBO"
    veo = field(catalog, "veo3", "aspect_ratio")
    assert parse_field(veo, "AUTO") == "Auto"
    message = rejected(ratio, "2:1").message
    assert message.en == "Choose one of: 1:1, 4:3, 3:4, 16:9, 9:16"
    assert message.ru == "Выберите один из вариантов: 1:1, 4:3, 3:4, 16:9, 9:16"


def test_numeric_looking_enum_stays_a_string(catalog: Catalog) -> None:
    duration = field(catalog, "kling-2.6/text-to-video", "duration")
    value = parse_field(duration, "5")
    assert value == "5" and isinstance(value, str)
    assert "Choose one of: 5, 10" in rejected(duration, "7").message.en


def test_url_accepts_public_http_links(catalog: Catalog) -> None:
    image = field(catalog, "qwen/image-edit", "image_url")
    assert parse_field(image, f"  {CAT}\n") == CAT
    assert parse_field(image, "http://127.0.0.1:8080/media/cat.png") == (
        "http://127.0.0.1:8080/media/cat.png")


@pytest.mark.parametrize("text", [
    "javascript:alert(1)",
    "ftp://example.com/cat.jpg",
    "https://",
    "http:///cat.jpg",
    "example.com/cat.jpg",
    "https://user:secret@example.com/cat.jpg",
    "https://example.com/a cat.jpg",
    "https://example.com:99999/cat.jpg",
    "data:image/png;base64,iVBORw0KGgo=",
])
def test_url_rejects_what_is_not_a_public_http_link(catalog: Catalog, text: str) -> None:
    message = rejected(field(catalog, "qwen/image-edit", "image_url"), text).message
    assert message.en == "Send an http(s) link to the image"
    assert message.ru == "Отправьте ссылку http(s) на изображение"


@pytest.mark.parametrize("text", [
    f"https://api.telegram.org/file/bot{TOKEN}/photos/file_1.jpg",
    f"https://API.Telegram.org/file/bot{TOKEN}/photos/file_1.jpg",
    f"https://proxy.example.com/tg/file/bot{TOKEN}/photos/file_1.jpg",
])
def test_url_rejects_telegram_file_links_without_repeating_the_token(
    catalog: Catalog, text: str
) -> None:
    error = rejected(field(catalog, "qwen/image-edit", "image_url"), text)
    assert "Telegram" in error.message.en and "Telegram" in error.message.ru
    for shown in (str(error), error.message.en, error.message.ru):
        assert TOKEN not in shown and TOKEN.split(":")[1] not in shown


def test_url_list_splits_on_spaces_commas_and_new_lines(catalog: Catalog) -> None:
    urls = field(catalog, "seedream/4.5-edit", "image_urls")
    assert parse_field(urls, f"{CAT}, {DOG}\n{CAT}") == [CAT, DOG, CAT]
    assert parse_field(urls, CAT) == [CAT]


def test_url_list_counts_links(catalog: Catalog) -> None:
    urls = field(catalog, "flux-2/pro-image-to-image", "input_urls")
    too_many = rejected(urls, " ".join([CAT] * 9)).message
    assert too_many.en == "At most 8 links (you sent 9)"
    assert too_many.ru == "Максимум ссылок: 8 (вы отправили 9)"
    assert "1 to 8" in rejected(urls, " , ").message.en
    bad = rejected(urls, f"{CAT} ftp://example.com/x.jpg").message
    assert bad.en.startswith("Link 2:") and bad.ru.startswith("Ссылка 2:")
    single = field(catalog, "kling-2.6/image-to-video", "image_urls")
    assert rejected(single, f"{CAT} {DOG}").message.en == "Send only one link (you sent 2)"


# --- validate_input --------------------------------------------------------------------------


def errors_of(model: ModelSpec, values: dict[str, Any]) -> dict[str, FieldRejected]:
    with pytest.raises(InputRejected) as caught:
        validate_input(model, values)
    assert model.id in str(caught.value)
    return {e.field: e for e in caught.value.errors}


@pytest.mark.parametrize("key", ["model", "callBackUrl", "callback_url", "CallbackURL"])
def test_system_fields_never_come_from_input(catalog: Catalog, key: str) -> None:
    model = catalog.get("z-image")
    errors = errors_of(model, {"prompt": "a fox", key: "https://evil.example/cb"})
    assert list(errors) == [key]
    assert "set by the bot" in errors[key].message.en
    assert "задаёт бот" in errors[key].message.ru


def test_unknown_fields_are_rejected(catalog: Catalog) -> None:
    errors = errors_of(catalog.get("z-image"), {"prompt": "a fox", "colour": "red"})
    assert "this model takes: prompt, aspect_ratio" in errors["colour"].message.en


def test_missing_required_field_is_rejected(catalog: Catalog) -> None:
    model = catalog.get("seedream/4.5-text-to-image")
    errors = errors_of(model, {"prompt": "a fox", "aspect_ratio": "1:1"})
    assert list(errors) == ["quality"]
    assert errors["quality"].message.en == "This is required. Choose one of: basic, high"
    assert errors["quality"].message.ru.startswith("Это обязательное поле.")


@pytest.mark.parametrize(("name", "value"), [
    ("num_inference_steps", True),      # bool is not an integer
    ("num_inference_steps", 30.0),
    ("num_inference_steps", "30"),
    ("guidance_scale", False),
    ("guidance_scale", "2.5"),
    ("enable_safety_checker", 1),
    ("enable_safety_checker", "yes"),
    ("image_size", "SQUARE"),           # typed values must be canonical
    ("prompt", 42),
    ("prompt", ""),
])
def test_wrong_types_are_rejected(catalog: Catalog, name: str, value: Any) -> None:
    model = catalog.get("qwen/text-to-image")
    errors = errors_of(model, {"prompt": "a fox", name: value})
    assert list(errors) == [name]


def test_numeric_enum_must_be_the_string(catalog: Catalog) -> None:
    model = catalog.get("kling-2.6/text-to-video")
    good = {"prompt": "a fox", "sound": False, "aspect_ratio": "1:1", "duration": "10"}
    assert validate_input(model, good)["duration"] == "10"
    errors = errors_of(model, {**good, "duration": 10})
    assert "Choose one of: 5, 10" in errors["duration"].message.en


def test_defaults_are_filled_and_nothing_else_is_added(catalog: Catalog) -> None:
    model = catalog.get("qwen/text-to-image")
    sent = validate_input(model, {"prompt": "a fox", "seed": 7})
    assert sent == {
        "prompt": "a fox",
        "image_size": "square_hd",
        "num_inference_steps": 30,
        "guidance_scale": 2.5,
        "seed": 7,
        "enable_safety_checker": True,
    }
    # a required field with a default is filled too; None counts as not given
    assert validate_input(catalog.get("z-image"), {"prompt": "a fox", "aspect_ratio": None}) == {
        "prompt": "a fox", "aspect_ratio": "1:1"}


def test_url_lists_come_back_as_lists(catalog: Catalog) -> None:
    model = catalog.get("google/nano-banana-edit")
    sent = validate_input(model, {"prompt": "snow", "image_urls": (CAT, DOG)})
    assert sent["image_urls"] == [CAT, DOG]
    errors = errors_of(model, {"prompt": "snow", "image_urls": CAT})
    assert "image_urls" in errors


def test_every_problem_is_reported_at_once(catalog: Catalog) -> None:
    model = catalog.get("kling-2.6/text-to-video")
    with pytest.raises(InputRejected) as caught:
        validate_input(model, {"model": "x", "sound": 1, "duration": "7"})
    fields = [e.field for e in caught.value.errors]
    assert fields == ["model", "prompt", "sound", "aspect_ratio", "duration"]
    text = caught.value.message
    assert text.en.count("\n") == 4 and "Это обязательное поле" in text.ru


def test_input_must_be_a_mapping(catalog: Catalog) -> None:
    with pytest.raises(InputRejected):
        validate_input(catalog.get("z-image"), ["prompt"])  # type: ignore[arg-type]


# --- price_for -------------------------------------------------------------------------------


def test_price_depends_on_duration_and_sound(catalog: Catalog) -> None:
    kling = catalog.get("kling-2.6/text-to-video")
    base = {"prompt": "a fox", "aspect_ratio": "1:1"}
    assert kling.price_for({**base, "sound": False, "duration": "5"}) == kling.price == 28
    assert kling.price_for({**base, "sound": True, "duration": "5"}) == 55
    assert kling.price_for({**base, "sound": False, "duration": "10"}) == 55
    assert kling.price_for({**base, "sound": True, "duration": "10"}) == 110
    # a rule on sound=True must not match a stray integer 1
    assert kling.price_for({**base, "sound": 1, "duration": "5"}) == 28


def test_price_uses_defaults_for_missing_fields(catalog: Catalog) -> None:
    wan = catalog.get("wan/2-6-text-to-video")
    assert wan.price_for({"prompt": "clouds"}) == 35
    assert wan.price_for({"prompt": "clouds", "resolution": "1080p"}) == 53
    assert wan.price_for({"prompt": "clouds", "resolution": "1080p", "duration": "15"}) == 158
    pro = catalog.get("nano-banana-pro")
    assert pro.price_for({"prompt": "x"}) == 9
    assert pro.price_for({"prompt": "x", "resolution": "4K"}) == 12


def test_price_of_validated_input_matches_what_is_charged(catalog: Catalog) -> None:
    imagen = catalog.get("google/imagen4-fast")
    sent = validate_input(imagen, {"prompt": "balloons", "num_images": "3"})
    assert imagen.price_for(sent) == 6
    assert imagen.price_for(validate_input(imagen, {"prompt": "balloons"})) == 2
    free = catalog.get("qwen/image-edit")
    assert free.price_for({"prompt": "hat", "image_url": CAT}) == 0


# --- inputs as KIE's docs shape them (issue 13) ------------------------------------------------


@pytest.mark.parametrize("model_id", ["veo3", "veo3_fast"])
def test_veo_3_1_takes_aspect_ratio_and_one_or_two_image_urls(
    catalog: Catalog, model_id: str,
) -> None:
    # docs.kie.ai/veo3-api/generate-veo-3-video: aspect_ratio; imageUrls = 1 image or first+last
    model = catalog.get(model_id)
    sent = validate_input(model, {"prompt": "a dog", "aspect_ratio": "9:16",
                                  "imageUrls": [CAT, DOG]})
    assert sent == {"prompt": "a dog", "aspect_ratio": "9:16", "imageUrls": [CAT, DOG]}
    assert validate_input(model, {"prompt": "a dog"})["aspect_ratio"] == "16:9"
    with pytest.raises(InputRejected):
        validate_input(model, {"prompt": "a dog", "imageUrls": [CAT, DOG, CAT]})


@pytest.mark.parametrize("model_id", ["V4_5PLUS", "V5"])
def test_suno_custom_mode_needs_style_and_title_and_plain_mode_leaves_them_empty(
    catalog: Catalog, model_id: str,
) -> None:
    # docs.kie.ai/suno-api/generate-music
    model = catalog.get(model_id)
    custom = {"customMode": True, "instrumental": False, "prompt": "la " * 1000,
              "style": "folk", "title": "Morning"}
    assert validate_input(model, custom)["prompt"] == "la " * 1000  # lyrics up to 5000
    instrumental = {"customMode": True, "instrumental": True, "prompt": "calm piano",
                    "style": "folk", "title": "Sea"}
    assert validate_input(model, instrumental)["style"] == "folk"
    bad: list[dict[str, Any]] = [
        {**custom, "style": None},
        {**custom, "title": None},
        {**custom, "title": "t" * 81},
        {**custom, "prompt": "x" * 5001},
        {**custom, "prompt": None},
        {"customMode": False, "instrumental": False, "prompt": "a song", "style": "folk"},
        {"customMode": False, "instrumental": False, "prompt": "x" * 501},
        {"customMode": False, "instrumental": False},
    ]
    for values in bad:
        with pytest.raises(InputRejected):
            validate_input(model, values)


def test_hailuo_2_3_refuses_ten_seconds_at_1080p(catalog: Catalog) -> None:
    # docs.kie.ai/market/hailuo/2-3-image-to-video-standard: 10 s only at 768P
    model = catalog.get("hailuo/2-3-image-to-video-standard")
    base = {"prompt": "falls", "image_url": CAT}
    assert validate_input(model, {**base, "duration": "10"})["resolution"] == "768P"
    assert validate_input(model, {**base, "resolution": "1080P"})["duration"] == "6"
    with pytest.raises(InputRejected) as caught:
        validate_input(model, {**base, "duration": "10", "resolution": "1080P"})
    assert "768P" in caught.value.message.en and "768P" in caught.value.message.ru


@pytest.mark.parametrize("model_id", ["qwen/text-to-image", "qwen/image-to-image",
                                      "qwen/image-edit"])
def test_qwen_negative_prompt_is_at_most_500_characters(catalog: Catalog, model_id: str) -> None:
    assert catalog.get(model_id).field("negative_prompt").max_length == 500


@pytest.mark.parametrize("model_id", ["google/nano-banana", "google/nano-banana-edit"])
def test_nano_banana_takes_aspect_ratio_not_the_deprecated_image_size(
    catalog: Catalog, model_id: str,
) -> None:
    names = {f.name for f in catalog.get(model_id).fields}
    assert "aspect_ratio" in names and "image_size" not in names


def test_priced_video_inputs_are_always_sent_explicitly(catalog: Catalog) -> None:
    # KIE's own defaults differ from what we charge for (Wan 2.6 defaults to 1080p; Grok
    # Imagine video has duration and resolution): send the values the price was set for
    grok = catalog.get("grok-imagine/text-to-video")
    sent = validate_input(grok, {"prompt": "a boat"})
    assert sent["duration"] == "6" and sent["resolution"] == "480p"
    assert grok.price_for(sent) == grok.price
    wan = catalog.get("wan/2-6-text-to-video")
    sent = validate_input(wan, {"prompt": "clouds"})
    assert sent["resolution"] == "720p" and sent["duration"] == "5"
    assert wan.price_for(sent) == wan.price
