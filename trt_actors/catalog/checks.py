"""The catalog's load-time consistency: the checks that need the validator, and the report.

The pydantic validators of :mod:`trt_actors.catalog.model` and ``fields`` raise
:class:`CatalogProblem`; pydantic wraps it and :func:`one_line` turns the first error into the
single ``CatalogError`` line an operator reads (``catalog: model 'x' field 'y' key: message``).
The checks that run a model's own values through :mod:`trt_actors.catalog.validation` (a
field's default, a price rule, the example) live here too. The validator imports the catalog,
and the catalog imports this module, so those two are imported inside the functions: by the
time a catalog is loaded, both modules are complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from trt_actors.catalog.fields import FieldSpec
    from trt_actors.catalog.model import ModelSpec
    from trt_actors.catalog.pricing import PriceRule

__all__ = ["CatalogProblem", "default_problem", "example_problem", "one_line",
           "price_rule_problem"]


class CatalogProblem(ValueError):
    """A consistency problem found by a validator; pydantic wraps it, the loader unwraps it."""

    def __init__(self, message: str, *, field: str | None = None, key: str | None = None):
        super().__init__(message)
        self.field, self.key = field, key


_UNION_TAGS = {"int", "float", "str", "bool", "dict", "list", "tuple"}


def one_line(label: str, raw: dict[str, Any], exc: ValidationError) -> str:
    """``catalog: model 'x' field 'y' key: message`` from pydantic's first error."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    problem = (error.get("ctx") or {}).get("error")
    field: str | None = None
    if loc[:1] == ["fields"] and len(loc) > 1 and isinstance(loc[1], int):
        entries = raw.get("fields")
        entry = entries[loc[1]] if isinstance(entries, list) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        field = name if isinstance(name, str) else f"#{loc[1] + 1}"
        loc = loc[2:]
    keys = [str(p) for p in loc if isinstance(p, int) or (p not in _UNION_TAGS and "[" not in p)]
    if isinstance(problem, CatalogProblem):
        message = str(problem)
        field = problem.field or field
        keys = [] if problem.key is None or message.startswith(problem.key) else [problem.key]
    else:
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        if isinstance(value, str | int | float | bool) or value is None:
            message += f" (got {value!r:.60})"
    where = f"catalog: model {label}"
    if field:
        where += f" field {field!r}"
    if keys:
        where += " " + ".".join(keys)
    return f"{where}: {message}".replace("\n", " ")


# --- checks that run the catalog's own values through the validator -------------------------------


def default_problem(field: FieldSpec) -> str | None:
    """Why a field's default fails its own field, or None."""
    from trt_actors.catalog.fields import FieldType
    from trt_actors.catalog.validation import FieldRejected, check_value

    try:
        check_value(field, field.default)
    except FieldRejected as rejected:
        if field.type is FieldType.ENUM and isinstance(field.default, str):
            return f"default {field.default!r} is not one of {', '.join(field.enum or ())}"
        return f"default {field.default!r} is invalid: {rejected.message.en}"
    return None


def price_rule_problem(model: ModelSpec, rule: PriceRule) -> tuple[str, str] | None:
    """(field, why) if a price rule names a missing field, a non-enum/boolean field, or a
    value the field cannot take; else None."""
    from trt_actors.catalog.fields import FieldType
    from trt_actors.catalog.validation import FieldRejected, check_value

    fields = {f.name: f for f in model.fields}
    for name, value in rule.when.items():
        field = fields.get(name)
        if field is None:
            return name, "refers to a field the model does not have"
        if field.type not in (FieldType.ENUM, FieldType.BOOLEAN):
            return name, "only enum and boolean fields can set a price"
        try:
            check_value(field, value)
        except FieldRejected as rejected:
            return name, f"{value!r} is not a value of this field ({rejected.message.en})"
    return None


def example_problem(model: ModelSpec) -> tuple[str, str] | None:
    """(field, why) for the first reason the model's own example fails validation, or None."""
    from trt_actors.catalog.validation import InputRejected, validate_input

    try:
        validate_input(model, model.example)
    except InputRejected as rejected:
        first = rejected.errors[0]
        return first.field, first.message.en
    return None
