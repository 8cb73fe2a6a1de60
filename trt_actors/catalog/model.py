"""The model catalog: every model the bot sells, its input fields, limits and KIE's cost.

The catalog files (``trt_actors/catalog/models/*.json``, one per KIE family, read by
:mod:`trt_actors.catalog.loading`) are validated once at load into frozen pydantic values.
Anything wrong (types, unknown keys, a default outside its own field, an example its own model
rejects, a paid model without KIE's cost ...) stops the load with one ``CatalogError`` line
naming the model and field, so an operator's typo fails at start-up, not in front of a user.
Prices are derived from KIE's cost (:mod:`trt_actors.catalog.pricing`); the operator's markup,
overrides and switched-off models come in through :meth:`Catalog.with_pricing`. User input is
checked against these specs by :mod:`trt_actors.catalog.validation`.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictStr,
    StringConstraints,
    model_validator,
)

from trt_actors.catalog.checks import CatalogProblem, example_problem, price_rule_problem
from trt_actors.catalog.fields import (
    FieldSpec,
    FieldType,
    Localized,
    Number,
    ResultKind,
    is_system_field,
)
from trt_actors.catalog.follows import MAX_FOLLOW_UP_ID, Follows
from trt_actors.catalog.pricing import (
    DEFAULT_CREDITS_PER_KIE_CREDIT,
    OutputSize,
    PerChars,
    PriceRule,
    bot_credits,
    scaled,
)

__all__ = [
    "KINDS", "Catalog", "Family", "FieldSpec", "FieldType", "Localized", "ModelSpec",
    "PriceRule", "ResultKind", "is_system_field", "load_catalog", "packaged_catalog_data",
    "parse_catalog",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

KINDS = (
    "text-to-image", "image-edit", "image-to-image", "upscale", "background-removal", "reframe",
    "text-to-video", "image-to-video", "video-to-video", "video-upscale", "lip-sync", "music",
    "music-extend", "text-to-speech", "speech-to-text", "sound-effects", "audio-isolation",
)
"""The categories a model's ``kind`` can name (the menu groups models by them): images from
text, editing, restyling from a picture, upscaling, background removal, reframing; video from
text, from a picture, from a video, video upscaling; avatars and lip-sync; music and music
extension; speech from text, text from speech, sound effects, voice isolation."""


class Family(StrEnum):
    """Which KIE API a model is called through (see kie-api.md)."""

    MARKET = "market"
    VEO = "veo"
    SUNO = "suno"
    # Families of their own endpoints (paths and shapes: gateways/kie/families.py). The
    # follow-ups (extend, 1080p/4K) take the source KIE task id as a field: a catalog entry
    # declares ``follows`` so it is prefilled from a delivered result (catalog.follows).
    VEO_EXTEND = "veo_extend"
    VEO_1080P = "veo_1080p"
    VEO_4K = "veo_4k"
    SUNO_EXTEND = "suno_extend"
    RUNWAY = "runway"
    RUNWAY_EXTEND = "runway_extend"
    RUNWAY_ALEPH = "runway_aleph"
    MIDJOURNEY = "midjourney"
    GPT4O_IMAGE = "gpt4o_image"
    FLUX_KONTEXT = "flux_kontext"


class ModelSpec(BaseModel):
    """One model the bot sells: how to ask for its input, what KIE charges, how long to wait."""

    model_config = _FROZEN

    id: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")]
    """KIE's model id (the ``model`` of createTask, or Veo/Suno's ``model``)."""
    family: Family
    kind: Annotated[StrictStr, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
    """One of :data:`KINDS`: groups models in the menu."""
    title: Localized
    description: Localized
    source: Annotated[StrictStr, StringConstraints(pattern=r"^https://[^\s]+$")]
    """The KIE docs or pricing page this entry's fields, limits and cost come from."""
    added: datetime.date
    """When the model was added to the catalog (ISO date): recent ones get a "new" badge."""
    fields: Annotated[tuple[FieldSpec, ...], Field(min_length=1)]
    kie_credits: Annotated[Number, Field(ge=0)]
    """KIE's cost, in KIE credits, for the defaults (no ``price_by`` rule matching)."""
    price_by: tuple[PriceRule, ...] = ()
    """KIE's cost for inputs that change it; the first match wins."""
    per_chars: PerChars | None = None
    """KIE bills by a text's length: added to the cost above."""
    output_size: OutputSize | None = None
    """KIE bills by the output's size: replaces the cost above."""
    free: StrictBool = False
    expected_seconds: Annotated[int, Field(ge=1)]
    max_seconds: Annotated[int, Field(ge=1)]
    """After this long without a result the job is failed and the hold released."""
    result_kind: ResultKind
    example: dict[StrictStr, JsonValue]
    """One valid input, used by tests and the free-model end-to-end check."""
    follows: Follows | None = None
    """Set on a follow-up (Veo extend, 4K, Suno extend ...): it continues a delivered result of
    ``follows.models``, offered only as a button under it, with ``follows.fields`` prefilled
    from that job (:mod:`trt_actors.catalog.follows`); in no menu, search or ``/gen``."""
    enabled: StrictBool = True
    """False when the operator switched the model off: not offered, but jobs in flight still
    resolve it."""
    credits_per_kie_credit: Annotated[float, Field(gt=0)] = DEFAULT_CREDITS_PER_KIE_CREDIT
    """The operator's markup (set by :meth:`Catalog.with_pricing`, not in the file)."""
    price_override: Annotated[int, Field(ge=1)] | None = None
    """The operator's price for the defaults (set by :meth:`Catalog.with_pricing`)."""

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        names = [f.name for f in self.fields]
        for name in names:
            if names.count(name) > 1:
                raise CatalogProblem("appears more than once", field=name)
        if self.kind not in KINDS:
            raise CatalogProblem(f"{self.kind!r} is not a known kind ({', '.join(KINDS)})",
                                 key="kind")
        if self.free and (self.price_by or self.per_chars or self.output_size):
            raise CatalogProblem("a free model cannot have price rules", key="price_by")
        if not self.free and not self.kie_credits and self.per_chars is None:
            raise CatalogProblem("a paid model needs KIE's cost (more than 0 KIE credits)",
                                 key="kie_credits")
        for index, rule in enumerate(self.price_by):
            found = price_rule_problem(self, rule)
            if found:
                key = f"price_by[{index}]"
                raise CatalogProblem(f"{key}: {found[1]}", field=found[0], key=key)
        self._check_billing_fields()
        self._check_follows()
        if self.max_seconds < self.expected_seconds:
            raise CatalogProblem(
                f"max_seconds {self.max_seconds} is less than expected_seconds "
                f"{self.expected_seconds}", key="max_seconds",
            )
        found = example_problem(self)
        if found:
            raise CatalogProblem(f"example: {found[1]}", field=found[0], key="example")
        return self

    def _check_billing_fields(self) -> None:
        if self.per_chars is not None:
            spec = self._field_or_none(self.per_chars.field)
            if spec is None or spec.type is not FieldType.STRING or spec.max_length is None:
                raise CatalogProblem("per_chars needs a string field with a max_length",
                                     field=self.per_chars.field, key="per_chars")
        if self.output_size is not None:
            spec = self._field_or_none(self.output_size.factor_field)
            if (spec is None or spec.type is not FieldType.ENUM
                    or not all(v.isdigit() for v in spec.enum or ())):
                raise CatalogProblem("output_size needs an enum field of whole-number factors",
                                     field=self.output_size.factor_field, key="output_size")
            if self.kie_credits != self.output_size.buckets[-1].kie_credits:
                raise CatalogProblem("kie_credits must be the largest bucket's (the price when "
                                     "the input's size is unknown)", key="kie_credits")

    def _check_follows(self) -> None:
        if self.follows is None:
            return
        if len(self.id) > MAX_FOLLOW_UP_ID:
            raise CatalogProblem(f"a follow-up's id is at most {MAX_FOLLOW_UP_ID} characters "
                                 "(it is in its button's data)", key="id")
        for name in self.follows.fields:
            spec = self._field_or_none(name)
            if spec is None or spec.type is not FieldType.STRING or not spec.required:
                raise CatalogProblem("follows.fields must name required string fields",
                                     field=name, key="follows")

    @property
    def is_follow_up(self) -> bool:
        """True when the model continues another's result (offered only under it)."""
        return self.follows is not None

    @property
    def prefilled_fields(self) -> frozenset[str]:
        """Fields a follow-up takes from its source job: never asked, shown or edited."""
        return frozenset(self.follows.fields) if self.follows is not None else frozenset()

    def _field_or_none(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def field(self, name: str) -> FieldSpec:
        """The field called ``name``; ``KeyError`` if the model has none."""
        spec = self._field_or_none(name)
        if spec is None:
            raise KeyError(f"model {self.id!r} has no field {name!r}")
        return spec

    @property
    def required_fields(self) -> tuple[FieldSpec, ...]:
        """Fields the user must give (the wizard always asks these), in catalog order."""
        return tuple(f for f in self.fields if f.required)

    @property
    def optional_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if not f.required)

    def defaults(self) -> dict[str, Any]:
        """Field name → default, for fields that have one."""
        return {f.name: f.default for f in self.fields if f.has_default}

    # --- price ------------------------------------------------------------------------------

    def kie_cost(self, values: Mapping[str, Any], *,
                 longest_side_px: int | None = None) -> Fraction:
        """What KIE bills for this input, in KIE credits (missing fields count as their
        default). ``longest_side_px``: the input image's size, when known (output-size
        billing charges the largest bucket without it)."""
        effective = {**self.defaults(), **values}
        if self.output_size is not None:
            return self.output_size.cost(effective, longest_side_px)
        rule = next((r for r in self.price_by if r.matches(effective)), None)
        cost = Fraction(str(rule.kie_credits if rule else self.kie_credits))
        if self.per_chars is not None:
            cost += self.per_chars.cost(effective)
        return cost

    def price_for(self, values: Mapping[str, Any], *, longest_side_px: int | None = None) -> int:
        """Credits to charge for this input: 0 for a free model, else KIE's cost times the
        markup rounded up (at least 1), scaled by the operator's override if there is one."""
        if self.free:
            return 0
        price = bot_credits(self.kie_cost(values, longest_side_px=longest_side_px),
                            self.credits_per_kie_credit)
        if self.price_override is None:
            return price
        base = bot_credits(self.kie_cost({}), self.credits_per_kie_credit)
        return scaled(price, self.price_override, base)

    @property
    def price(self) -> int:
        """The price of the defaults (what a card shows when inputs do not change it)."""
        return self.price_for({})

    @property
    def charges_worst_case(self) -> bool:
        """True when the price is an upper bound KIE's bill may stay under (output-size
        billing with the input's size unknown): the card says "up to"."""
        return self.output_size is not None

    def price_range(self) -> tuple[int, int]:
        """The lowest and highest price over every input that changes it: "from N"."""
        prices = [self.price_for(values) for values in self._priced_inputs()]
        if self.output_size is not None:
            smallest = self.output_size.buckets[0].up_to_px
            prices.append(self.price_for({}, longest_side_px=smallest))
        return min(prices), max(prices)

    def _priced_inputs(self) -> Iterator[dict[str, Any]]:
        names = list(dict.fromkeys(n for rule in self.price_by for n in rule.when))
        choices = [self._choices(self.field(n)) for n in names]
        lengths: list[dict[str, Any]] = [{}]
        if self.per_chars is not None:
            text = self.field(self.per_chars.field)
            longest = text.max_length or 1  # checked at load: a per_chars field has one
            lengths = [{text.name: "x" * n} for n in (text.min_length or 1, longest)]
        for combination in itertools.product(*choices):
            for length in lengths:
                yield {**dict(zip(names, combination, strict=True)), **length}

    @staticmethod
    def _choices(spec: FieldSpec) -> tuple[Any, ...]:
        return (True, False) if spec.type is FieldType.BOOLEAN else tuple(spec.enum or ())


class Catalog(BaseModel):
    """All models, keyed by id, in catalog order (the menu's order)."""

    model_config = _FROZEN

    models: dict[str, ModelSpec]

    @model_validator(mode="after")
    def _keys_are_ids(self) -> Catalog:
        for key, spec in self.models.items():
            if key != spec.id:
                raise CatalogProblem(f"listed under the key {key!r}", key="id")
        return self

    def get(self, model_id: str) -> ModelSpec:
        """The model with this id, enabled or not; ``KeyError`` if the catalog has none."""
        try:
            return self.models[model_id]
        except KeyError:
            raise KeyError(f"unknown model {model_id!r}") from None

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def __len__(self) -> int:
        return len(self.models)

    def with_pricing(self, credits_per_kie_credit: float,
                     price_overrides: Mapping[str, int] | None = None,
                     disabled: Iterable[str] = ()) -> Catalog:
        """A new catalog with the operator's pricing: the markup for every model, overrides
        (model id → credits for its defaults; a free model stays free) and models switched
        off. Ids the catalog does not have are ignored (a model removed from the files may
        still have a row in the database)."""
        if not credits_per_kie_credit > 0:
            raise ValueError(f"credits_per_kie_credit must be > 0, got {credits_per_kie_credit}")
        overrides = dict(price_overrides or {})
        for model_id, credits in overrides.items():
            if isinstance(credits, bool) or not isinstance(credits, int) or credits < 1:
                raise ValueError(f"price override for {model_id!r} must be a whole number of "
                                 f"credits of at least 1, got {credits!r}")
        off = set(disabled)
        models = {
            model_id: spec.model_copy(update={
                "credits_per_kie_credit": float(credits_per_kie_credit),
                "price_override": None if spec.free else overrides.get(model_id),
                "enabled": model_id not in off,
            })
            for model_id, spec in self.models.items()
        }
        return Catalog(models=models)

    def enabled_models(self) -> list[ModelSpec]:
        return [spec for spec in self.models.values() if spec.enabled]

    def offered_models(self) -> list[ModelSpec]:
        """The enabled models a user picks from a menu, search or ``/gen``: not the
        follow-ups, which are offered under a result they continue."""
        return [spec for spec in self.enabled_models() if not spec.is_follow_up]

    def follow_ups(self, model_id: str) -> list[ModelSpec]:
        """The enabled follow-ups of a result of ``model_id``, in catalog order."""
        return [spec for spec in self.enabled_models()
                if spec.follows is not None and model_id in spec.follows.models]

    def kinds(self) -> list[str]:
        """Distinct kinds of the enabled models in catalog order, so the operator orders the
        menu by ordering the files."""
        return list(dict.fromkeys(spec.kind for spec in self.enabled_models()))

    def by_kind(self, kind: str) -> list[ModelSpec]:
        return [spec for spec in self.enabled_models() if spec.kind == kind]

    def free_models(self) -> list[ModelSpec]:
        return [spec for spec in self.enabled_models() if spec.free]


# the loader needs the classes above; re-exported here for the callers that import it from here
from trt_actors.catalog.loading import (  # noqa: E402
    load_catalog,
    packaged_catalog_data,
    parse_catalog,
)
