"""The model catalog: every model the bot sells, its input fields, limits and prices.

``trt_actors/catalog/catalog.json`` is validated once at load into frozen pydantic values. Anything
wrong (types, unknown keys, a default outside its own field, an example its own model rejects,
a paid model without a price ...) stops the load with one ``CatalogError`` line naming the model
and field, so an operator's typo fails at start-up, not in front of a user. User input is
checked against these specs by :mod:`trt_actors.catalog.validation`; the load-time checks that need
the validator, and the one-line report of any problem, are in :mod:`trt_actors.catalog.checks`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from trt_actors.catalog.checks import (
    CatalogProblem,
    default_problem,
    example_problem,
    one_line,
    price_rule_problem,
)
from trt_actors.errors import CatalogError

__all__ = [
    "Catalog", "Family", "FieldSpec", "FieldType", "Localized", "ModelSpec", "PriceRule",
    "ResultKind", "is_system_field", "load_catalog", "parse_catalog",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

Text = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1)]
Number = StrictInt | StrictFloat
Count = Annotated[StrictInt, Field(ge=0)]


def is_system_field(name: str) -> bool:
    """True for names the bot itself sets on a KIE request (``model``, ``callBackUrl``).

    Compared case- and separator-insensitively, so ``callback_url`` and ``CallBackURL`` are
    caught too: such a field can never come from user input.
    """
    return name.replace("_", "").replace("-", "").lower() in {"model", "callbackurl"}


class Localized(BaseModel):
    """A text in English and Russian."""

    model_config = _FROZEN

    en: Text
    ru: Text

    def get(self, language: str | None) -> str:
        """The text for a Telegram ``language_code`` (Russian for ``ru*``, else English)."""
        return self.ru if (language or "").lower().startswith("ru") else self.en


class FieldType(StrEnum):
    """The type of one input field, as the wizard asks for it and KIE receives it."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ENUM = "enum"
    """One of a fixed list of values; always strings, even numeric-looking ("5")."""
    URL = "url"
    """One public http(s) URL (KIE takes media by URL, never base64)."""
    URL_LIST = "url_list"


class Family(StrEnum):
    """Which KIE API a model is called through (see kie-api.md)."""

    MARKET = "market"
    VEO = "veo"
    SUNO = "suno"


class ResultKind(StrEnum):
    """What a model produces (and, on a url field, what the link must point to)."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


_NUMERIC = (FieldType.INTEGER, FieldType.NUMBER)
_APPLIES_TO = {  # which limits make sense for which field types
    "enum": (FieldType.ENUM,), "min": _NUMERIC, "max": _NUMERIC,
    "min_length": (FieldType.STRING,), "max_length": (FieldType.STRING,),
    "min_items": (FieldType.URL_LIST,), "max_items": (FieldType.URL_LIST,),
    "media": (FieldType.URL, FieldType.URL_LIST),
    "max_duration_s": (FieldType.URL, FieldType.URL_LIST),
}


class FieldSpec(BaseModel):
    """One input field of a model: its type, limits, default and the wizard's question."""

    model_config = _FROZEN

    name: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
    """The key in KIE's ``input`` object, exactly as KIE spells it."""
    type: FieldType
    label: Localized
    """The question the wizard asks for this field."""
    required: StrictBool = False
    default: JsonValue = None
    """Sent when the user gives no value (None: no default; KIE decides)."""
    enum: tuple[StrictStr, ...] | None = None
    min: Number | None = None
    max: Number | None = None
    min_length: Count | None = None
    max_length: Count | None = None
    min_items: Count | None = None
    max_items: Count | None = None
    media: ResultKind | None = None
    """For url fields: what the link points to (only changes the wording of messages)."""
    max_duration_s: Annotated[StrictInt, Field(ge=1)] | None = None
    """For url fields of video or audio: the longest clip KIE takes, in seconds (a longer
    one sent in the chat is refused with this limit named; a link is KIE's to check)."""

    @property
    def has_default(self) -> bool:
        return self.default is not None

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if is_system_field(self.name):
            raise CatalogProblem("is a system field the bot sets itself; it cannot be user input")
        t = self.type
        for key, types in _APPLIES_TO.items():
            if t not in types and getattr(self, key) is not None:
                raise CatalogProblem(f"{key} does not apply to a field of type {t}")
        if t is FieldType.ENUM:
            values = self.enum or ()
            if not values or any(not v.strip() for v in values):
                raise CatalogProblem(
                    "an enum field needs a non-empty list of non-empty string values")
            folded = [v.casefold() for v in values]
            if len(set(folded)) != len(folded):
                raise CatalogProblem("enum values must be unique (case-insensitively)")
        if t is FieldType.INTEGER:
            for key in ("min", "max"):
                bound = getattr(self, key)
                if bound is not None and not float(bound).is_integer():
                    raise CatalogProblem(f"{key} of an integer field must be a whole number")
        for low, high in (("min", "max"), ("min_length", "max_length"),
                          ("min_items", "max_items")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise CatalogProblem(f"{low} {lo} is greater than {high} {hi}")
        if self.max_items == 0 or self.max_length == 0:
            raise CatalogProblem("a maximum of 0 leaves nothing to send")
        if self.has_default:
            problem = default_problem(self)
            if problem:
                raise CatalogProblem(problem)
        return self


class PriceRule(BaseModel):
    """``{"when": {"resolution": "4K"}, "price": 15}``: the price when every condition holds."""

    model_config = _FROZEN

    when: Annotated[dict[StrictStr, StrictStr | StrictBool], Field(min_length=1)]
    """Field name → value; only enum (string) and boolean fields can be conditions."""
    price: Annotated[StrictInt, Field(ge=1)]

    def matches(self, values: Mapping[str, Any]) -> bool:
        # type() equality: a rule on sound=True must not match a stray 1
        return all(
            type(values.get(name)) is type(want) and values.get(name) == want
            for name, want in self.when.items()
        )


class ModelSpec(BaseModel):
    """One model the bot sells: how to ask for its input, what to charge, how long to wait."""

    model_config = _FROZEN

    id: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")]
    """KIE's model id (the ``model`` of createTask, or Veo/Suno's ``model``)."""
    family: Family
    kind: Annotated[StrictStr, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
    """text-to-image, image-edit, text-to-video, music, ...: groups models in the menu."""
    title: Localized
    description: Localized
    fields: Annotated[tuple[FieldSpec, ...], Field(min_length=1)]
    price: Annotated[StrictInt, Field(ge=0)] | None = None
    """Credits the bot charges (the operator's price; 0 for a free model)."""
    price_by: tuple[PriceRule, ...] = ()
    """Rules that override ``price`` for some inputs; the first match wins."""
    kie_credits: Annotated[Number, Field(ge=0)] | dict[StrictStr, Annotated[Number, Field(ge=0)]]
    """KIE's own cost (a number, or one per variant), for margin reports only."""
    free: StrictBool = False
    expected_seconds: Annotated[StrictInt, Field(ge=1)]
    max_seconds: Annotated[StrictInt, Field(ge=1)]
    """After this long without a result the job is failed and the hold released."""
    result_kind: ResultKind
    example: dict[StrictStr, JsonValue]
    """One valid input, used by tests and the free-model end-to-end check."""

    @model_validator(mode="before")
    @classmethod
    def _free_costs_nothing(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("free") is True and "price" not in data:
            return {**data, "price": 0}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        names = [f.name for f in self.fields]
        for name in names:
            if names.count(name) > 1:
                raise CatalogProblem("appears more than once", field=name)
        if self.free:
            if self.price != 0:
                raise CatalogProblem("a free model must have price 0", key="price")
            if self.price_by:
                raise CatalogProblem("a free model cannot have price rules", key="price_by")
        elif not self.price:
            raise CatalogProblem("a paid model needs a price of at least 1 credit", key="price")
        for index, rule in enumerate(self.price_by):
            found = price_rule_problem(self, rule)
            if found:
                key = f"price_by[{index}]"
                raise CatalogProblem(f"{key}: {found[1]}", field=found[0], key=key)
        if self.max_seconds < self.expected_seconds:
            raise CatalogProblem(
                f"max_seconds {self.max_seconds} is less than expected_seconds "
                f"{self.expected_seconds}", key="max_seconds",
            )
        found = example_problem(self)
        if found:
            raise CatalogProblem(f"example: {found[1]}", field=found[0], key="example")
        return self

    def field(self, name: str) -> FieldSpec:
        """The field called ``name``; ``KeyError`` if the model has none."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"model {self.id!r} has no field {name!r}")

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

    def price_for(self, values: Mapping[str, Any]) -> int:
        """Credits to charge for this input: the first matching ``price_by`` rule, else
        ``price``. Missing fields count as their default. A free model costs 0."""
        if self.free:
            return 0
        effective = {**self.defaults(), **values}
        for rule in self.price_by:
            if rule.matches(effective):
                return rule.price
        assert self.price is not None  # guaranteed at load for paid models
        return self.price


class Catalog(BaseModel):
    """All models, keyed by id, in catalog-file order."""

    model_config = _FROZEN

    models: dict[str, ModelSpec]

    @model_validator(mode="after")
    def _keys_are_ids(self) -> Catalog:
        for key, spec in self.models.items():
            if key != spec.id:
                raise CatalogProblem(f"listed under the key {key!r}", key="id")
        return self

    def get(self, model_id: str) -> ModelSpec:
        """The model with this id; ``KeyError`` if the catalog has none."""
        try:
            return self.models[model_id]
        except KeyError:
            raise KeyError(f"unknown model {model_id!r}") from None

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def __len__(self) -> int:
        return len(self.models)

    def kinds(self) -> list[str]:
        """Distinct kinds in order of first appearance in the catalog file, so the operator
        orders the menu by ordering the file."""
        return list(dict.fromkeys(spec.kind for spec in self.models.values()))

    def by_kind(self, kind: str) -> list[ModelSpec]:
        return [spec for spec in self.models.values() if spec.kind == kind]

    def free_models(self) -> list[ModelSpec]:
        return [spec for spec in self.models.values() if spec.free]


# --- loading -------------------------------------------------------------------------------


def packaged_catalog_text() -> str:
    """The text of the catalog shipped with the package."""
    return resources.files(__package__).joinpath("catalog.json").read_text("utf-8")


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file (default: the packaged ``catalog.json``).

    Raises ``CatalogError`` with one line naming the model and field at fault.
    """
    try:
        if path is None:
            text = packaged_catalog_text()
            source = "catalog.json"
        else:
            text, source = Path(path).read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"catalog: cannot read {path or 'catalog.json'}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"catalog: {source} is not valid JSON (line {exc.lineno} column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    return parse_catalog(data)


def parse_catalog(data: Any) -> Catalog:
    """Validate already-decoded catalog JSON: ``{"models": [ {...}, ... ]}``."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise CatalogError('catalog: the top level must be an object with a "models" list')
    extra = sorted(set(data) - {"models", "about"})
    if extra:
        raise CatalogError(f"catalog: unknown top-level key {extra[0]!r}")
    models: dict[str, ModelSpec] = {}
    positions: dict[str, int] = {}
    for position, raw in enumerate(data["models"], start=1):
        if not isinstance(raw, dict):
            raise CatalogError(f"catalog: model #{position} is not an object")
        model_id = raw.get("id")
        label = repr(model_id) if isinstance(model_id, str) else f"#{position}"
        if isinstance(model_id, str) and model_id in positions:
            raise CatalogError(f"catalog: model {label} id: duplicate id (models "
                               f"#{positions[model_id]} and #{position})")
        if isinstance(model_id, str):
            positions[model_id] = position
        try:
            spec = ModelSpec.model_validate(raw)
        except ValidationError as exc:
            raise CatalogError(one_line(label, raw, exc)) from None
        models[spec.id] = spec
    if not models:
        raise CatalogError("catalog: no models")
    return Catalog(models=models)
