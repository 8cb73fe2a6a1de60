"""The catalog as users see it now: the packaged catalog, priced with the operator's markup
(``TRT_CREDITS_PER_KIE_CREDIT``), with the operator's per-model settings over it (price
overrides, models switched off: rows of ``model_settings``, see
:mod:`trt_actors.domain.model_settings`).

``LiveCatalog`` is the one object every running part that prices or lists models consults
(the chat actor per update, /status, ``trt-node models``); it builds the effective catalog
with :meth:`Catalog.with_pricing` and keeps the last build, so reading it per update costs
no rebuild unless an admin changed something.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Protocol

from trt_actors.catalog.model import Catalog
from trt_actors.catalog.pricing import DEFAULT_CREDITS_PER_KIE_CREDIT

__all__ = ["LiveCatalog", "OperatorSetting", "price_list"]


class OperatorSetting(Protocol):
    """What the operator said about one model (``domain.model_settings.ModelSetting``)."""

    @property
    def model_id(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def price(self) -> int | None: ...


_Key = tuple[tuple[str, bool, int | None], ...]


class LiveCatalog:
    """The effective catalog: packaged + the markup setting + the operator's settings.

    Thread-safe (chat actors run on many threads); memoised on the settings it was built
    from.
    """

    def __init__(self, packaged: Catalog,
                 credits_per_kie_credit: float = DEFAULT_CREDITS_PER_KIE_CREDIT) -> None:
        self.packaged = packaged
        """The catalog as loaded (its models and KIE's costs; the operator's settings not
        applied): what jobs already confirmed resolve their model in."""
        self.credits_per_kie_credit = credits_per_kie_credit
        self._lock = threading.Lock()
        self._built: tuple[_Key, Catalog] | None = None

    def with_settings(self, settings: Iterable[OperatorSetting]) -> Catalog:
        """The effective catalog under these settings (those of models the catalog lacks,
        e.g. removed from the files since, are ignored)."""
        key: _Key = tuple(sorted((s.model_id, s.enabled, s.price) for s in settings
                                 if s.model_id in self.packaged))
        with self._lock:
            if self._built is not None and self._built[0] == key:
                return self._built[1]
        overrides = {model_id: price for model_id, _, price in key if price is not None}
        disabled = [model_id for model_id, enabled, _ in key if not enabled]
        built = self.packaged.with_pricing(self.credits_per_kie_credit, overrides, disabled)
        with self._lock:
            self._built = (key, built)
        return built

    def latest(self) -> Catalog:
        """The last catalog built (the markup alone before any), without the database."""
        with self._lock:
            built = self._built
        return built[1] if built is not None else self.with_settings(())


def price_list(catalog: Catalog) -> list[dict[str, Any]]:
    """Every model of ``catalog`` with its effective price, for /status and ``trt-node
    models``: id, family, kind, ``price`` (for the defaults), ``price_min``/``price_max`` over
    the inputs that change it, free, enabled, and its fields (name, type, required)."""
    listed = []
    for spec in catalog.models.values():
        low, high = spec.price_range()
        listed.append({
            "id": spec.id, "family": spec.family.value, "kind": spec.kind,
            "price": spec.price, "price_min": low, "price_max": high, "free": spec.free,
            "enabled": spec.enabled,
            "fields": [{"name": f.name, "type": f.type.value, "required": f.required}
                       for f in spec.fields],
        })
    return listed
