"""The packaged model catalog loads, is complete, and a broken catalog fails with one clear line."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import ValidationError

from trt_actors.catalog.model import Catalog, FieldType, ModelSpec, load_catalog
from trt_actors.catalog.validation import validate_input
from trt_actors.errors import CatalogError

FREE = ("z-image", "qwen/text-to-image", "qwen/image-to-image", "qwen/image-edit")
PACKAGED = Path(__file__).resolve().parents[2] / "trt_actors" / "catalog" / "catalog.json"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PACKAGED.read_text(encoding="utf-8"))
    return data


# --- the packaged catalog --------------------------------------------------------------------


def test_packaged_catalog_is_big_enough_and_covers_every_family(catalog: Catalog) -> None:
    assert len(catalog) >= 22
    assert {m.family for m in catalog.models.values()} == {"market", "veo", "suno"}
    for model_id in ("veo3", "veo3_fast", "V4_5PLUS", "V5", "kling-2.6/text-to-video"):
        assert model_id in catalog


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


@pytest.mark.parametrize(
    "model_id", [m["id"] for m in json.loads(PACKAGED.read_text("utf-8"))["models"]])
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
                assert match[3].lower().endswith((".jpg", ".jpeg", ".png")), url
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
    model = catalog.get("z-image")
    with pytest.raises(ValidationError):
        model.price = 5
    assert catalog.get("z-image").price == 0


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
    "missing price on paid model": (
        lambda d: _model(d, "google/nano-banana").pop("price"),
        ("'google/nano-banana'", "price", "paid model")),
    "free model with a price": (
        lambda d: _model(d, "z-image").update(price=3),
        ("'z-image'", "price", "free model")),
    "price rule on an unknown value": (
        lambda d: _model(d, "nano-banana-pro")["price_by"][0]["when"].update(resolution="8K"),
        ("'nano-banana-pro'", "'resolution'", "price_by[0]", "'8K'")),
    "price rule on an unknown field": (
        lambda d: _model(d, "nano-banana-pro")["price_by"].append(
            {"when": {"colour": "red"}, "price": 3}),
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
        lambda d: _model(d, "veo3").update(family="runway"),
        ("'veo3'", "family", "'runway'")),
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
