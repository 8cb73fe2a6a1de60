"""The packaged model catalog loads, is complete, and a broken catalog fails with one clear line."""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import ValidationError

from trt_actors.catalog.model import (
    KINDS,
    Catalog,
    FieldType,
    ModelSpec,
    load_catalog,
    packaged_catalog_data,
)
from trt_actors.catalog.validation import validate_input
from trt_actors.errors import CatalogError

FREE = ("z-image", "qwen/text-to-image", "qwen/image-to-image", "qwen/image-edit")
PACKAGED = Path(__file__).resolve().parents[2] / "trt_actors" / "catalog" / "models"
SOLD = KINDS
"""The categories issue 13 asks for: every kind the catalog knows is on sale."""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return packaged_catalog_data()


# --- the packaged catalog --------------------------------------------------------------------


def test_packaged_catalog_sells_70_models_in_every_category(catalog: Catalog) -> None:
    enabled = catalog.enabled_models()
    assert len(enabled) >= 70
    kinds = {m.kind for m in enabled}
    assert set(SOLD) <= kinds, set(SOLD) - kinds
    assert kinds <= set(KINDS)
    assert {"market", "veo", "suno"} <= {m.family for m in enabled}
    for model_id in ("veo3", "veo3_fast", "V4_5PLUS", "V5", "kling-2.6/text-to-video",
                     "bytedance/v1-pro-image-to-video", "hailuo/02-text-to-video-pro",
                     "kling/v2-5-turbo-text-to-video-pro", "sora-2-pro-image-to-video",
                     "google/imagen4-ultra", "elevenlabs/speech-to-text"):
        assert model_id in catalog


def test_every_entry_names_its_kie_page_and_when_it_was_added(catalog: Catalog) -> None:
    for model in catalog.models.values():
        assert re.match(r"https://(docs\.)?kie\.ai/", model.source), model.id
        assert datetime.date(2026, 11, 1) <= model.added <= datetime.date(2026, 12, 5), model.id
    assert catalog.get("z-image").added == datetime.date(2026, 11, 1)
    assert catalog.get("elevenlabs/speech-to-text").added == datetime.date(2026, 12, 5)


def test_a_text_result_is_a_kind_of_its_own(catalog: Catalog) -> None:
    assert catalog.get("elevenlabs/speech-to-text").result_kind == "text"
    assert catalog.get("elevenlabs/audio-isolation").result_kind == "audio"


def test_the_four_free_models_are_free(catalog: Catalog) -> None:
    assert sorted(m.id for m in catalog.free_models()) == sorted(FREE)
    for model_id in FREE:
        model = catalog.get(model_id)
        assert model.free and model.price == 0
        assert model.price_for(model.example) == 0


def test_paid_models_charge_at_least_one_credit(catalog: Catalog) -> None:
    for model in catalog.models.values():
        if not model.free:
            assert model.price is not None and model.price >= 1, model.id
            assert model.price_for(model.example) >= 1, model.id


@pytest.mark.parametrize("model_id", [m["id"] for m in packaged_catalog_data()["models"]])
def test_every_example_validates(catalog: Catalog, model_id: str) -> None:
    model = catalog.get(model_id)
    sent = validate_input(model, model.example)
    # what KIE receives contains the example plus defaults, and nothing the bot sets itself
    assert sent.items() >= model.example.items()
    assert "model" not in sent and "callBackUrl" not in sent


def test_example_links_are_real_wikimedia_files(catalog: Catalog) -> None:
    """Commons paths are /x/xy/Name where xy is the MD5 of the name: a typo breaks it."""
    seen = 0
    for model in catalog.models.values():
        for field in model.fields:
            if field.type not in (FieldType.URL, FieldType.URL_LIST):
                continue
            value: Any = model.example.get(field.name)
            urls: list[str] = [value] if isinstance(value, str) else list(value or [])
            for url in urls:
                parts = urlsplit(url)
                assert parts.scheme == "https" and parts.hostname == "upload.wikimedia.org"
                match = re.fullmatch(r"/wikipedia/commons/(\w)/(\w\w)/([^/]+)", parts.path)
                assert match, url
                digest = hashlib.md5(unquote(match[3]).encode()).hexdigest()
                assert (match[1], match[2]) == (digest[0], digest[:2]), url
                assert match[3].lower().endswith(
                    (".jpg", ".jpeg", ".png", ".webm", ".ogg")), url
                seen += 1
    assert seen >= 10


def test_fields_are_well_formed_for_the_wizard(catalog: Catalog) -> None:
    cyrillic = re.compile("[а-яё]", re.IGNORECASE)
    for model in catalog.models.values():
        assert model.required_fields, model.id
        assert cyrillic.search(model.title.ru + model.description.ru), model.id
        assert model.max_seconds >= model.expected_seconds
        for field in model.fields:
            assert cyrillic.search(field.label.ru), (model.id, field.name)
            if field.type is FieldType.ENUM:
                assert field.enum and all(isinstance(v, str) for v in field.enum)


def test_numeric_looking_enums_stay_strings(catalog: Catalog) -> None:
    duration = catalog.get("kling-2.6/text-to-video").field("duration")
    assert duration.type is FieldType.ENUM and duration.enum == ("5", "10")


def test_suno_v5_has_the_same_fields_as_v4_5plus(catalog: Catalog) -> None:
    assert catalog.get("V5").fields == catalog.get("V4_5PLUS").fields
    assert catalog.get("V5").family == "suno"


def test_required_and_optional_fields_split_the_model(catalog: Catalog) -> None:
    model = catalog.get("qwen/text-to-image")
    assert [f.name for f in model.required_fields] == ["prompt"]
    assert "image_size" in [f.name for f in model.optional_fields]
    assert len(model.required_fields) + len(model.optional_fields) == len(model.fields)


def test_kinds_menu_is_stable_and_complete(catalog: Catalog) -> None:
    kinds = catalog.kinds()
    assert kinds == load_catalog().kinds()
    assert kinds[0] == "text-to-image"
    assert {"image-edit", "text-to-video", "image-to-video", "music", "text-to-speech"} <= set(
        kinds)
    assert sum(len(catalog.by_kind(k)) for k in kinds) == len(catalog)
    assert all(m.kind == "music" for m in catalog.by_kind("music"))


def test_unknown_model_is_a_key_error(catalog: Catalog) -> None:
    with pytest.raises(KeyError, match="no-such-model"):
        catalog.get("no-such-model")
    with pytest.raises(KeyError):
        catalog.get("z-image").field("nope")


def test_model_specs_are_frozen(catalog: Catalog) -> None:
    model = catalog.get("google/nano-banana")
    with pytest.raises(ValidationError):
        model.kie_credits = 5
    assert catalog.get("google/nano-banana").price == 2


# --- broken catalogs -------------------------------------------------------------------------


def _model(data: dict[str, Any], model_id: str) -> dict[str, Any]:
    return next(m for m in data["models"] if m["id"] == model_id)


def _field(data: dict[str, Any], model_id: str, name: str) -> dict[str, Any]:
    return next(f for f in _model(data, model_id)["fields"] if f["name"] == name)


def _add_field(model_id: str, name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        _model(data, model_id)["fields"].append(
            {"name": name, "type": "string", "label": {"en": "Which?", "ru": "Какой?"}})
    return mutate


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "bad default": (
        lambda d: _field(d, "z-image", "aspect_ratio").update(default="2:1"),
        ("'z-image'", "'aspect_ratio'", "default '2:1' is not one of 1:1, 4:3")),
    "numeric default for enum": (
        lambda d: _field(d, "kling-2.6/text-to-video", "duration").update(default=5),
        ("'kling-2.6/text-to-video'", "'duration'", "default 5")),
    "duplicate id": (
        lambda d: d["models"].append(copy.deepcopy(_model(d, "veo3"))),
        ("'veo3'", "duplicate id")),
    "enum without values": (
        lambda d: _field(d, "z-image", "aspect_ratio").update(enum=[]),
        ("'z-image'", "'aspect_ratio'", "non-empty")),
    "enum with a number": (
        lambda d: _field(d, "topaz/image-upscale", "upscale_factor").update(enum=[1, 2]),
        ("'topaz/image-upscale'", "'upscale_factor'", "valid string")),
    "example failing validation": (
        lambda d: _model(d, "z-image")["example"].update(prompt="x" * 1204),
        ("'z-image'", "'prompt'", "example", "1000", "1204")),
    "example missing a required field": (
        lambda d: _model(d, "seedream/4.5-text-to-image")["example"].pop("quality"),
        ("'seedream/4.5-text-to-image'", "'quality'", "example", "required")),
    "system field model": (
        _add_field("veo3", "model"), ("'veo3'", "'model'", "system field")),
    "system field callBackUrl": (
        _add_field("V5", "callBackUrl"), ("'V5'", "'callBackUrl'", "system field")),
    "system field callback_url": (
        _add_field("z-image", "callback_url"), ("'z-image'", "'callback_url'", "system field")),
    "no KIE cost on a paid model": (
        lambda d: _model(d, "google/nano-banana").update(kie_credits=0),
        ("'google/nano-banana'", "kie_credits", "paid model")),
    "a bot price in the file": (
        lambda d: _model(d, "z-image").update(price=3),
        ("'z-image'", "price", "kie_credits", "TRT_CREDITS_PER_KIE_CREDIT")),
    "an operator override in the file": (
        lambda d: _model(d, "google/nano-banana").update(price_override=3),
        ("'google/nano-banana'", "price_override", "operator")),
    "a model switched off in the file": (
        lambda d: _model(d, "google/nano-banana").update(enabled=False),
        ("'google/nano-banana'", "enabled", "operator")),
    "free model with price rules": (
        lambda d: _model(d, "z-image").update(
            price_by=[{"when": {"aspect_ratio": "1:1"}, "kie_credits": 3}]),
        ("'z-image'", "price_by", "free model")),
    "no source": (
        lambda d: _model(d, "z-image").pop("source"), ("'z-image'", "source", "required")),
    "no date added": (
        lambda d: _model(d, "z-image").pop("added"), ("'z-image'", "added", "required")),
    "a date that is not one": (
        lambda d: _model(d, "z-image").update(added="1 Nov"), ("'z-image'", "added")),
    "unknown kind": (
        lambda d: _model(d, "z-image").update(kind="holograms"),
        ("'z-image'", "kind", "'holograms'", "text-to-image")),
    "per_chars on a field without a limit": (
        lambda d: _field(d, "elevenlabs/text-to-speech-turbo-2-5", "text").pop("max_length"),
        ("'elevenlabs/text-to-speech-turbo-2-5'", "'text'", "per_chars", "max_length")),
    "output_size cheaper than its largest bucket": (
        lambda d: _model(d, "topaz/image-upscale").update(kie_credits=10),
        ("'topaz/image-upscale'", "kie_credits", "largest bucket")),
    "price rule on an unknown value": (
        lambda d: _model(d, "nano-banana-pro")["price_by"][0]["when"].update(resolution="8K"),
        ("'nano-banana-pro'", "'resolution'", "price_by[0]", "'8K'")),
    "price rule on an unknown field": (
        lambda d: _model(d, "nano-banana-pro")["price_by"].append(
            {"when": {"colour": "red"}, "kie_credits": 3}),
        ("'nano-banana-pro'", "'colour'", "price_by[1]")),
    "max below expected": (
        lambda d: _model(d, "veo3").update(max_seconds=10),
        ("'veo3'", "max_seconds", "expected_seconds")),
    "min above max": (
        lambda d: _field(d, "qwen/text-to-image", "num_inference_steps").update(min=300),
        ("'qwen/text-to-image'", "'num_inference_steps'", "min 300 is greater than max 250")),
    "misspelt key": (
        lambda d: _field(d, "z-image", "prompt").update(max_lenght=10),
        ("'z-image'", "'prompt'", "max_lenght")),
    "unknown family": (
        lambda d: _model(d, "veo3").update(family="telepathy"),
        ("'veo3'", "family", "'telepathy'")),
    "duplicate field": (
        lambda d: _model(d, "z-image")["fields"].append(
            copy.deepcopy(_field(d, "z-image", "prompt"))),
        ("'z-image'", "'prompt'", "more than once")),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_catalog_fails_with_one_line(
    case: str, raw: dict[str, Any], tmp_path: Path
) -> None:
    mutate, expected = BROKEN[case]
    data = copy.deepcopy(raw)
    mutate(data)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith("catalog: model ")
    assert "\n" not in message
    for part in expected:
        assert part in message, (part, message)


def test_unreadable_and_malformed_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": [', encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(bad)
    empty = tmp_path / "empty.json"
    empty.write_text('{"models": []}', encoding="utf-8")
    with pytest.raises(CatalogError, match="no models"):
        load_catalog(empty)


def test_a_valid_custom_catalog_file_loads(raw: dict[str, Any], tmp_path: Path) -> None:
    data = {"models": [_model(raw, "z-image"), _model(raw, "veo3")]}
    path = tmp_path / "small.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    small = load_catalog(path)
    assert list(small.models) == ["z-image", "veo3"]
    assert isinstance(small.get("veo3"), ModelSpec)


# --- one file per family ---------------------------------------------------------------------


def _write(folder: Path, name: str, models: list[dict[str, Any]]) -> None:
    (folder / name).write_text(json.dumps({"models": models}), encoding="utf-8")


def test_the_packaged_catalog_is_one_file_per_family() -> None:
    names = sorted(p.name for p in PACKAGED.glob("*.json"))
    assert {"market.json", "veo.json", "suno.json"} <= set(names)
    for path in PACKAGED.glob("*.json"):
        families = {m["family"] for m in json.loads(path.read_text("utf-8"))["models"]}
        assert families == {path.stem} or path.stem != "market", path.name
    assert len(load_catalog(PACKAGED)) == len(load_catalog())


def test_a_directory_loads_market_first_then_the_files_by_name(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    _write(tmp_path, "veo.json", [_model(raw, "veo3")])
    _write(tmp_path, "market.json", [_model(raw, "nano-banana-pro"), _model(raw, "z-image")])
    _write(tmp_path, "suno.json", [_model(raw, "V5")])
    (tmp_path / "notes.txt").write_text("not a catalog file", encoding="utf-8")
    assert list(load_catalog(tmp_path).models) == ["nano-banana-pro", "z-image", "V5", "veo3"]
    # a new family's file is picked up with no code change, in its place by name
    _write(tmp_path, "aaa.json", [_model(raw, "V4_5PLUS")])
    assert list(load_catalog(tmp_path).models) == [
        "nano-banana-pro", "z-image", "V4_5PLUS", "V5", "veo3"]


def test_a_broken_file_in_a_directory_is_named(raw: dict[str, Any], tmp_path: Path) -> None:
    _write(tmp_path, "market.json", [_model(raw, "z-image")])
    (tmp_path / "veo.json").write_text('{"models": [', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"veo\.json is not valid JSON"):
        load_catalog(tmp_path)
    _write(tmp_path, "veo.json", [_model(raw, "z-image")])
    with pytest.raises(CatalogError, match="duplicate id"):
        load_catalog(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CatalogError, match=r"no \.json files"):
        load_catalog(empty)
