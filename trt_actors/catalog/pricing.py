"""How a model's price follows KIE's bill.

The catalog records what KIE charges, in KIE credits, the way KIE bills it: a base cost (for
the model's defaults), ``price_by`` rules for inputs that change it (resolution, duration,
sound ...), a per-character rate (:class:`PerChars`, ElevenLabs speech) or output-size buckets
(:class:`OutputSize`, Topaz upscale). The bot's price is derived from that cost:

- a free model costs 0;
- a paid one costs ``max(1, ceil(kie_cost × credits_per_kie_credit))`` (the operator's
  markup, ``TRT_CREDITS_PER_KIE_CREDIT``);
- an operator's override of N credits sets the price of the defaults to N and scales every
  other combination by the same factor, rounded up.

Rounding is always up, so no combination is ever charged below KIE's cost times the markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator

from trt_actors.catalog.checks import CatalogProblem
from trt_actors.catalog.fields import Number

__all__ = ["DEFAULT_CREDITS_PER_KIE_CREDIT", "OutputSize", "PerChars", "PriceRule", "SizeBucket",
           "bot_credits", "scaled"]

DEFAULT_CREDITS_PER_KIE_CREDIT = 0.5
"""Credits the bot charges per KIE credit unless ``TRT_CREDITS_PER_KIE_CREDIT`` says otherwise."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")
KieCredits = Annotated[Number, Field(ge=0)]


class PriceRule(BaseModel):
    """``{"when": {"resolution": "4K"}, "kie_credits": 24}``: KIE's cost when every condition
    holds (the first matching rule wins; none matching: the model's ``kie_credits``)."""

    model_config = _FROZEN

    when: Annotated[dict[StrictStr, StrictStr | StrictBool], Field(min_length=1)]
    """Field name → value; only enum (string) and boolean fields can be conditions."""
    kie_credits: KieCredits

    def matches(self, values: Mapping[str, Any]) -> bool:
        # type() equality: a rule on sound=True must not match a stray 1
        return all(
            type(values.get(name)) is type(want) and values.get(name) == want
            for name, want in self.when.items()
        )


class PerChars(BaseModel):
    """``{"field": "text", "chars": 100, "kie_credits": 0.6}``: KIE bills by the length of a
    text field; every started block of ``chars`` characters adds ``kie_credits``."""

    model_config = _FROZEN

    field: StrictStr
    """A string field with a ``max_length`` (so the highest price is known)."""
    chars: Annotated[int, Field(ge=1)]
    kie_credits: KieCredits

    def cost(self, values: Mapping[str, Any]) -> Fraction:
        text = values.get(self.field)
        blocks = math.ceil(len(text) / self.chars) if isinstance(text, str) else 0
        return blocks * _exact(self.kie_credits)


class SizeBucket(BaseModel):
    """KIE's cost for an output whose longest side is at most ``up_to_px`` pixels."""

    model_config = _FROZEN

    up_to_px: Annotated[int, Field(ge=1)]
    kie_credits: KieCredits


class OutputSize(BaseModel):
    """KIE bills by the output's size (Topaz: ≤ 2K / 4K / 8K), which is the input's longest
    side times ``factor_field``. The bot rarely knows the input's size before it charges:
    then it charges the largest bucket (never less than KIE's bill; the card says "up to").
    With a known size, the bucket that output falls in."""

    model_config = _FROZEN

    factor_field: StrictStr
    """An enum field of whole-number factors ("1", "2", ...)."""
    buckets: Annotated[tuple[SizeBucket, ...], Field(min_length=1)]
    """Ascending by ``up_to_px``; the last one's bound is the largest output KIE accepts."""

    @model_validator(mode="after")
    def _ascending(self) -> OutputSize:
        bounds = [b.up_to_px for b in self.buckets]
        if bounds != sorted(set(bounds)):
            raise CatalogProblem("output_size buckets must be in ascending up_to_px order")
        return self

    @property
    def max_px(self) -> int:
        return self.buckets[-1].up_to_px

    def cost(self, values: Mapping[str, Any], longest_side_px: int | None) -> Fraction:
        if longest_side_px is None:
            return _exact(self.buckets[-1].kie_credits)
        factor = values.get(self.factor_field)
        output = longest_side_px * int(factor) if isinstance(factor, str) else longest_side_px
        for bucket in self.buckets:
            if output <= bucket.up_to_px:
                return _exact(bucket.kie_credits)
        return _exact(self.buckets[-1].kie_credits)


def _exact(number: float) -> Fraction:
    # through str: 0.1 is one tenth, not 0.1000000000000000055...
    return Fraction(str(number))


def bot_credits(kie_cost: Fraction | float, credits_per_kie_credit: float) -> int:
    """The bot's price of a paid request that costs ``kie_cost`` KIE credits: at least 1."""
    return max(1, math.ceil(Fraction(kie_cost) * _exact(credits_per_kie_credit)))


def scaled(price: int, override: int, base: int) -> int:
    """A combination's price under an override: the defaults' price ``base`` becomes
    ``override`` and ``price`` scales by the same factor, rounded up."""
    return max(1, math.ceil(Fraction(price * override, base)))
