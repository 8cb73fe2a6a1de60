"""``trt-node models [--json]``: the catalog with the prices users are charged now.

One row per model: id, family, kind (its category), the effective price, free, enabled, and
its fields (``*`` marks a required one). "Effective" means the packaged catalog (or
``TRT_CATALOG``) priced with ``TRT_CREDITS_PER_KIE_CREDIT``, with the operator's ``/price``
and ``/model`` settings over it when the database is reachable (``DATABASE_URL``; unset: the
embedded server, if one runs in ``TRT_DATA_DIR``); when it is not, the catalog's prices, and
the first line (or the JSON's ``from_database``) says so. It needs no bot token or KIE key.

Exit codes: 0 listed, 2 a setting or the catalog is wrong (one line says which).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Annotated, Any

from trt_actors.catalog.live import LiveCatalog, price_list
from trt_actors.catalog.model import Catalog, load_catalog
from trt_actors.domain import model_settings
from trt_actors.errors import CatalogError, StoreError
from trt_actors.infra.settings import DatabaseSettings, Settings, settings_error_line
from trt_actors.infra.store import connect

CONNECT_TIMEOUT_S = 3


class CatalogSettings(DatabaseSettings):
    """What this command reads: the database part and the catalog's two settings (defined
    once, in ``Settings``)."""

    catalog_path: Annotated[Path | None, Settings.model_fields["catalog_path"]]
    credits_per_kie_credit: Annotated[float, Settings.model_fields["credits_per_kie_credit"]]


def load_settings(**env: Any) -> CatalogSettings:
    """The settings from the environment (``env``: instead of it, for tests)."""
    return CatalogSettings(**env)


def _conninfo(settings: CatalogSettings) -> str | None:
    """``DATABASE_URL``, or a running embedded server's (never one started for a listing)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    data = Path(settings.data_dir) / "postgres"
    if not (data / "postmaster.pid").exists():
        return None
    from trt_actors.infra.embedded_pg import EmbeddedPostgres

    return EmbeddedPostgres(data).start()  # joins the running server; left running


def effective(settings: CatalogSettings) -> tuple[Catalog, str | None]:
    """The effective catalog and, when the database did not answer, why not."""
    live = LiveCatalog(load_catalog(settings.catalog_path), settings.credits_per_kie_credit)
    try:
        conninfo = _conninfo(settings)
        if conninfo is None:
            return live.latest(), "no database (DATABASE_URL unset, no embedded server running)"
        with connect(conninfo, connect_timeout=CONNECT_TIMEOUT_S) as tx:
            return live.with_settings(model_settings.read(tx)), None
    except StoreError as exc:
        return live.latest(), str(exc).splitlines()[0]
    except Exception as exc:  # the embedded server's own errors: still list the catalog
        return live.latest(), f"{type(exc).__name__}: {exc}"


def _price(entry: dict[str, Any]) -> str:
    if entry["free"]:
        return "free"
    low, high = entry["price_min"], entry["price_max"]
    return str(low) if low == high else f"{low}-{high}"


def table(entries: list[dict[str, Any]]) -> str:
    """An aligned plain-text table, one model a row."""
    head = ("id", "family", "kind", "price", "free", "enabled", "fields")
    rows = [(e["id"], e["family"], e["kind"], _price(e), "yes" if e["free"] else "no",
             "yes" if e["enabled"] else "OFF",
             " ".join(f["name"] + ("*" if f["required"] else "") for f in e["fields"]))
            for e in entries]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = []
    for row in [head, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trt-node models",
        description="the catalog with its effective prices (the operator's settings applied "
                    "when the database is reachable)")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    try:
        settings = load_settings()
    except (ValidationError, ValueError) as exc:
        print(f"trt-node: {settings_error_line(exc)}", file=sys.stderr)
        return 2
    try:
        catalog, unreachable = effective(settings)
    except CatalogError as exc:
        print(f"trt-node: {exc}", file=sys.stderr)
        return 2
    entries = price_list(catalog)
    if args.json:
        print(json.dumps({"credits_per_kie_credit": settings.credits_per_kie_credit,
                          "from_database": unreachable is None, "database_error": unreachable,
                          "count": len(entries),
                          "enabled": sum(e["enabled"] for e in entries),
                          "models": entries}, ensure_ascii=False, indent=2))
        return 0
    source = ("with the operator's settings from the database" if unreachable is None
              else f"catalog prices only: {unreachable}")
    print(f"{len(entries)} models, {sum(e['enabled'] for e in entries)} enabled; "
          f"{settings.credits_per_kie_credit:g} credits per KIE credit; {source}")
    print(table(entries))
    return 0
