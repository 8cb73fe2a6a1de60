"""Reading the catalog: one JSON file, or a directory of them (one per KIE family).

The packaged catalog is ``trt_actors/catalog/models/``: ``market.json``, ``veo.json``,
``suno.json`` ... each ``{"models": [...]}``. A new file there is picked up with no code
change. **Order** (the menu's): ``market.json`` first, then the other files by name, each
file's models in file order; so the operator orders the menu by ordering the files.
``TRT_CATALOG`` may name one file or such a directory.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trt_actors.catalog.checks import one_line
from trt_actors.catalog.model import Catalog, ModelSpec
from trt_actors.errors import CatalogError

__all__ = ["load_catalog", "packaged_catalog_data", "parse_catalog"]

FIRST_FILE = "market.json"
_OPERATOR_ONLY = ("credits_per_kie_credit", "price_override", "enabled")
"""Set by the operator's pricing (``Catalog.with_pricing``: the markup setting, /price,
/model), never by the files."""


def _ordered(files: list[Any]) -> list[Any]:
    return sorted((f for f in files if f.name.endswith(".json")),
                  key=lambda f: (f.name != FIRST_FILE, f.name))


def _read(source: Path | Traversable, label: str) -> dict[str, Any]:
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"catalog: cannot read {label}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"catalog: {label} is not valid JSON (line {exc.lineno} column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise CatalogError(
            f'catalog: {label}: the top level must be an object with a "models" list')
    return data


def _merge(sources: list[tuple[Path | Traversable, str]]) -> dict[str, Any]:
    models: list[Any] = []
    for source, label in sources:
        data = _read(source, label)
        extra = sorted(set(data) - {"models", "about"})
        if extra:
            raise CatalogError(f"catalog: {label}: unknown top-level key {extra[0]!r}")
        models.extend(data["models"])
    return {"models": models}


def packaged_catalog_data() -> dict[str, Any]:
    """The catalog shipped with the package, all files merged: ``{"models": [...]}``."""
    folder = resources.files(__package__).joinpath("models")
    return _merge([(f, f"models/{f.name}") for f in _ordered(list(folder.iterdir()))])


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file or directory (default: the packaged one).

    Raises ``CatalogError`` with one line naming the file, model and field at fault.
    """
    if path is None:
        return parse_catalog(packaged_catalog_data())
    path = Path(path)
    if path.is_dir():
        files = _ordered(list(path.iterdir()))
        if not files:
            raise CatalogError(f"catalog: {path} has no .json files")
        return parse_catalog(_merge([(f, str(f)) for f in files]))
    return parse_catalog(_merge([(path, str(path))]))


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
        _refuse_prices(label, raw)
        try:
            spec = ModelSpec.model_validate(raw)
        except ValidationError as exc:
            raise CatalogError(one_line(label, raw, exc)) from None
        models[spec.id] = spec
    if not models:
        raise CatalogError("catalog: no models")
    for spec in models.values():
        for source in spec.follows.models if spec.follows is not None else ():
            if source not in models or models[source].is_follow_up:
                raise CatalogError(f"catalog: model {spec.id!r} follows: {source!r} is not a "
                                   f"model of the catalog that makes results of its own")
    return Catalog(models=models)


def _refuse_prices(label: str, raw: dict[str, Any]) -> None:
    """A bot price in the file: the file records KIE's cost, the price is derived."""
    if "price" in raw:
        raise CatalogError(
            f"catalog: model {label} price: the catalog records KIE's cost (kie_credits); "
            f"the bot's price is derived from it (TRT_CREDITS_PER_KIE_CREDIT)")
    for key in _OPERATOR_ONLY:
        if key in raw:
            raise CatalogError(f"catalog: model {label} {key}: set by the operator's "
                               f"pricing, not in the catalog file")
