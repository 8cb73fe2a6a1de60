"""Apply the numbered migrations in ``sql/migrations``: each once, in order.

Safe to run twice and from two processes at once: the runner holds a PostgreSQL advisory
lock while it reads what is applied and applies the rest, each file in its own transaction
together with its row in ``schema_migrations``. Migrations only ever add; none drops user
data.
"""

from __future__ import annotations

import logging

import sql
from trt_actors.infra.store import Tx, connect

log = logging.getLogger("trt.db")

# Any constant bigint; it only has to be the same in every node process.
_LOCK_KEY = 0x7472_745F_6D69_67  # "trt_mig"

_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version int PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def migrate(conninfo: str) -> list[int]:
    """Apply what is missing; return the versions applied now (empty when up to date)."""
    done: list[int] = []
    with connect(conninfo) as conn:
        conn.raw("SELECT pg_advisory_lock(%(key)s)", {"key": _LOCK_KEY})
        try:
            conn.raw(_TABLE)
            applied = _applied(conn)
            for migration in sql.migrations():
                if migration.version in applied:
                    continue
                with conn.savepoint():  # the outermost transaction on this connection
                    conn.raw(migration.sql)
                    conn.raw(
                        "INSERT INTO schema_migrations (version, name)"
                        " VALUES (%(version)s, %(name)s)",
                        {"version": migration.version, "name": migration.name},
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                done.append(migration.version)
        finally:
            conn.raw("SELECT pg_advisory_unlock(%(key)s)", {"key": _LOCK_KEY})
    return done


def pending(conninfo: str, *, connect_timeout: int | None = None) -> list[int]:
    """Versions not applied yet (for readiness, /status and the pre-deploy check), on a
    fresh connection of its own. Raises ``StoreError`` (``DatabaseUnavailable`` when the
    server does not answer within ``connect_timeout`` seconds)."""
    with connect(conninfo, connect_timeout=connect_timeout) as conn:
        exists = conn.raw("SELECT to_regclass('schema_migrations') IS NOT NULL AS found")
        applied = _applied(conn) if exists and exists[0]["found"] else set()
    return [m.version for m in sql.migrations() if m.version not in applied]


def _applied(conn: Tx) -> set[int]:
    return {row["version"] for row in conn.raw("SELECT version FROM schema_migrations")}
