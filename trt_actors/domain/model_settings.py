"""The operator's word on the catalog, changed without a deploy: per-model price overrides and
on/off switches, kept in PostgreSQL (``model_settings``, migration 0011), and the confirmed
jobs that rank the "popular" list.

The rows are laid over the packaged catalog by ``catalog.LiveCatalog``; the chat actor reads
them in the transaction of each update, so an admin's ``/price`` or ``/model off`` holds for
the very next update of any chat, with no restart and no cache to go stale. A price change
never touches a confirmed order: the job holds the price its confirm screen showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trt_actors.infra.store import Row, Tx

__all__ = ["POPULAR_DAYS", "ModelSetting", "popular", "read", "set_enabled", "set_price"]
POPULAR_DAYS = 7
"""The "popular" list counts the confirmed jobs of this many last days."""


@dataclass(frozen=True, slots=True)
class ModelSetting:
    """One model's row: what the operator said, who said it last, and when."""

    model_id: str
    enabled: bool
    price: int | None
    """Credits that replace the catalog's price; None: the catalog's."""
    changed_by: int
    """The admin's Telegram user id (0: a tool)."""
    changed_at: datetime


def _setting(row: Row) -> ModelSetting:
    return ModelSetting(str(row["model_id"]), bool(row["enabled"]),
                        None if row["price"] is None else int(row["price"]),
                        int(row["changed_by"]), row["changed_at"])


def read(tx: Tx) -> list[ModelSetting]:
    """Every model's row, by model id."""
    return [_setting(row) for row in tx.all("model_settings_all")]


def set_enabled(tx: Tx, model_id: str, enabled: bool, *, by: int) -> ModelSetting:
    """Turn a model on or off (its price override, if any, stays)."""
    row = tx.one("model_set_enabled", model_id=model_id, enabled=enabled, changed_by=by)
    assert row is not None  # an upsert with RETURNING always returns its row
    return _setting(row)


def set_price(tx: Tx, model_id: str, price: int | None, *, by: int) -> ModelSetting:
    """Set a model's price in credits, or go back to the catalog's with ``None``."""
    row = tx.one("model_set_price", model_id=model_id, price=price, changed_by=by)
    assert row is not None
    return _setting(row)


def popular(tx: Tx, *, days: int = POPULAR_DAYS, limit: int = 50) -> list[str]:
    """Model ids by confirmed jobs over the last ``days`` days, most first (ties by id)."""
    return [str(row["model_id"]) for row in tx.all("models_popular", days=days, limit=limit)]
