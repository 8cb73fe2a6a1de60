"""The parts of a catalog entry a user meets: localized texts and input fields.

A :class:`FieldSpec` is one key of KIE's ``input`` object: its type, limits, default and the
question the wizard asks. The load-time checks that need the validator are in
:mod:`trt_actors.catalog.checks`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

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
    model_validator,
)

from trt_actors.catalog.checks import CatalogProblem, default_problem

__all__ = ["Count", "FieldSpec", "FieldType", "Localized", "Number", "ResultKind", "Text",
           "is_system_field"]

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


class ResultKind(StrEnum):
    """What a model produces (and, on a url field, what the link must point to)."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    """A transcript or other text: KIE answers ``resultJson: {"resultObject": {...}}``, not
    ``resultUrls``; it is delivered as a message (and a file when long)."""


_NUMERIC = (FieldType.INTEGER, FieldType.NUMBER)
_APPLIES_TO = {  # which limits make sense for which field types
    "enum": (FieldType.ENUM,), "min": _NUMERIC, "max": _NUMERIC,
    "min_length": (FieldType.STRING,), "max_length": (FieldType.STRING,),
    "min_items": (FieldType.URL_LIST,), "max_items": (FieldType.URL_LIST,),
    "media": (FieldType.URL, FieldType.URL_LIST),
    "max_mb": (FieldType.URL, FieldType.URL_LIST),
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
    max_mb: Annotated[StrictInt, Field(ge=1)] | None = None
    """For url fields: the largest file KIE takes, in MB (Recraft: 5). Checked on a file sent
    in the chat (Telegram says its size); a link is KIE's to refuse."""
    max_duration_s: Annotated[StrictInt, Field(ge=1)] | None = None
    """For audio/video url fields: the longest recording, in seconds, where KIE bills per
    second and the price is for at most this long. Checked on a file sent in the chat."""

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
