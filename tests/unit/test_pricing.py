"""Prices follow KIE's bill: the markup, overrides, per-character and per-size billing, and
models switched off. What a user is charged, and never less than KIE's cost times the markup."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from pydantic import ValidationError

from trt_actors.catalog.model import Catalog, load_catalog
from trt_actors.catalog.pricing import DEFAULT_CREDITS_PER_KIE_CREDIT
from trt_actors.catalog.validation import InputRejected, validate_input
from trt_actors.infra.settings import load_settings, settings_error_line

CAT = "https://upload.wikimedia.org/wikipedia/commons/3/3a/Cat03.jpg"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_the_default_markup_is_half_a_credit_per_kie_credit(catalog: Catalog) -> None:
    assert DEFAULT_CREDITS_PER_KIE_CREDIT == 0.5
    kling = catalog.get("kling-2.6/text-to-video")  # KIE: 55, or 110 with sound
    assert kling.price == 28 and kling.price_for({"sound": True}) == 55
    assert catalog.get("seedream/4.5-text-to-image").price == 4  # KIE 6.5 -> 3.25 -> 4
    assert catalog.get("recraft/crisp-upscale").price == 1  # KIE 0.5 -> 0.25 -> at least 1


def test_no_paid_combination_is_charged_under_kie_cost_times_the_markup(
    catalog: Catalog,
) -> None:
    for rate in (0.5, 0.37, 1.0, 2.5):
        priced = catalog.with_pricing(rate)
        for model in priced.models.values():
            for values in model._priced_inputs():
                price = model.price_for(values)
                if model.free:
                    assert price == 0
                    continue
                floor = model.kie_cost(values) * Fraction(str(rate))
                assert price >= 1 and price >= floor and price - floor < 1, (model.id, values)


def test_the_markup_changes_every_paid_price_and_no_free_one(catalog: Catalog) -> None:
    doubled = catalog.with_pricing(1.0)
    assert doubled.get("kling-2.6/text-to-video").price == 55
    assert doubled.get("wan/2-6-text-to-video").price_for({"resolution": "1080p"}) == 105
    assert doubled.get("z-image").price == 0
    assert catalog.get("kling-2.6/text-to-video").price == 28  # the original is unchanged


def test_an_override_sets_the_base_and_scales_the_rest_rounded_up(catalog: Catalog) -> None:
    priced = catalog.with_pricing(0.5, {"kling-2.6/text-to-video": 40})
    kling = priced.get("kling-2.6/text-to-video")
    assert kling.price == 40
    # 55 -> 28 credits became 40: every other combination scales by 40/28, rounded up
    assert kling.price_for({"sound": True}) == math.ceil(55 * 40 / 28) == 79
    assert kling.price_for({"sound": True, "duration": "10"}) == math.ceil(110 * 40 / 28)
    assert kling.price_range() == (40, 158)
    assert priced.get("kling-2.6/image-to-video").price == 28  # only the named model


def test_an_override_of_a_free_model_leaves_it_free(catalog: Catalog) -> None:
    assert catalog.with_pricing(0.5, {"z-image": 5}).get("z-image").price == 0


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_an_override_must_be_a_whole_credit_count(catalog: Catalog, bad: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        catalog.with_pricing(0.5, {"google/nano-banana": bad})  # type: ignore[dict-item]


@pytest.mark.parametrize("rate", [0, -0.5, float("nan")])
def test_the_markup_must_be_positive(catalog: Catalog, rate: float) -> None:
    with pytest.raises(ValueError, match="credits_per_kie_credit"):
        catalog.with_pricing(rate)


def test_a_disabled_model_leaves_the_menu_but_still_resolves(catalog: Catalog) -> None:
    priced = catalog.with_pricing(0.5, disabled=["z-image", "veo3", "no-such-model"])
    assert "z-image" not in [m.id for m in priced.free_models()]
    assert "veo3" not in [m.id for m in priced.by_kind("text-to-video")]
    assert len(priced.enabled_models()) == len(catalog) - 2
    assert not priced.get("veo3").enabled and priced.get("veo3").price == 125  # a job in flight
    assert priced.get("veo3_fast").enabled
    again = priced.with_pricing(0.5)  # switching on again is the absence from `disabled`
    assert again.get("veo3").enabled and len(again.enabled_models()) == len(catalog)


def test_speech_is_priced_per_started_hundred_characters(catalog: Catalog) -> None:
    turbo = catalog.get("elevenlabs/text-to-speech-turbo-2-5")  # KIE: 6 per 1,000 characters
    assert turbo.kie_cost({"text": "x" * 100}) == Fraction(6, 10)
    assert turbo.kie_cost({"text": "x" * 101}) == Fraction(12, 10)
    assert turbo.price_for({"text": "Hello"}) == 1
    assert turbo.price_for({"text": "x" * 5000}) == 15  # 30 KIE credits
    assert turbo.price_range() == (1, 15)
    multilingual = catalog.get("elevenlabs/text-to-speech-multilingual-v2")
    assert multilingual.price_for({"text": "x" * 5000}) == 30  # 12 per 1,000
    doubled = catalog.with_pricing(1.0).get("elevenlabs/text-to-speech-turbo-2-5")
    assert doubled.price_for({"text": "x" * 1000}) == 6


def test_voice_is_one_of_the_named_voices_and_defaults_to_rachel(catalog: Catalog) -> None:
    for model_id in ("elevenlabs/text-to-speech-turbo-2-5",
                     "elevenlabs/text-to-speech-multilingual-v2"):
        model = catalog.get(model_id)
        voice = model.field("voice")
        assert voice.enum is not None and len(voice.enum) == 21 and "Lily" in voice.enum
        assert validate_input(model, {"text": "hi"})["voice"] == "Rachel"
        with pytest.raises(InputRejected, match="voice"):
            validate_input(model, {"text": "hi", "voice": "Adam"})


def test_topaz_charges_the_largest_output_unless_the_size_is_known(catalog: Catalog) -> None:
    topaz = catalog.get("topaz/image-upscale")  # KIE: <=2K 10, 4K 20, 8K 40
    assert topaz.charges_worst_case
    for factor in ("1", "2", "4", "8"):
        values = {"image_url": CAT, "upscale_factor": factor}
        assert topaz.price_for(values) == 20  # unknown input size: never under KIE's bill
        for side in (500, 1000, 1500, 2500):
            out = side * int(factor)
            bucket = 10 if out <= 2048 else 20 if out <= 4096 else 40
            assert topaz.price_for(values, longest_side_px=side) == bucket // 2
            assert topaz.price_for(values, longest_side_px=side) <= topaz.price_for(values)
    assert topaz.price_range() == (5, 20)
    assert not catalog.get("google/nano-banana").charges_worst_case


def test_every_input_a_model_bills_on_is_sent_explicitly(catalog: Catalog) -> None:
    """KIE's own default may differ from ours (Wan 2.6 defaults to 1080p): a field a price
    rule depends on always has a default, so the charged value is the one KIE receives."""
    for model in catalog.models.values():
        billed = {name for rule in model.price_by for name in rule.when}
        if model.output_size:
            billed.add(model.output_size.factor_field)
        for name in billed:
            field = model.field(name)
            assert field.required or field.has_default, (model.id, name)
    wan = catalog.get("wan/2-6-text-to-video")
    assert validate_input(wan, {"prompt": "clouds"})["resolution"] == "720p"


# --- the setting -----------------------------------------------------------------------------

ENV = {"TRT_TELEGRAM_TOKEN": "123456:ABCDEFGHIJKLMNOP", "TRT_KIE_API_KEY": "kie-key-0123456789"}


def test_the_markup_setting_defaults_to_half_and_refuses_nonsense_in_one_line() -> None:
    assert load_settings(**ENV).credits_per_kie_credit == 0.5
    assert load_settings(**ENV, TRT_CREDITS_PER_KIE_CREDIT="1.25").credits_per_kie_credit == 1.25
    for bad in ("0", "-1", "nan", "inf", "cheap"):
        with pytest.raises(ValidationError) as refused:
            load_settings(**ENV, TRT_CREDITS_PER_KIE_CREDIT=bad)
        line = settings_error_line(refused.value)
        assert line.startswith("TRT_CREDITS_PER_KIE_CREDIT: ") and "\n" not in line, line
