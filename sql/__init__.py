"""The SQL of the TRT node: numbered migrations and named queries, loaded once.

Named queries live in ``queries.sql`` as ``-- name: <name> --`` blocks (procrastinate style);
parameters are always bound (``%(name)s``), never formatted into the text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "migrations", "queries"]

_NAME = re.compile(r"^-- name: ([a-z0-9_]+) --$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema migration file."""

    version: int
    """Its number, from the file name; applied in this order, each once."""
    name: str
    sql: str


@functools.cache
def queries() -> dict[str, str]:
    """All named queries, by name."""
    text = resources.files(__name__).joinpath("queries.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise ValueError(f"queries.sql: query {name!r} defined twice")
        found[name] = body.strip()
    return found


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """The migrations shipped with this version, in order."""
    folder = resources.files(__name__).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(
                Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8"))
            )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"sql/migrations: versions must be 1..n without gaps, got {versions}")
    return tuple(found)
