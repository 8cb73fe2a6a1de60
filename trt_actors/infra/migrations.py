"""Apply the numbered migrations in ``sql/migrations``: each once, in order.

Safe to run twice and from two processes at once: the runner holds a PostgreSQL advisory
lock while it reads what is applied and applies the rest, each file in its own transaction
together with its row in ``schema_migrations``. Migrations only ever add; none drops user
data.
"""

from __future__ import annotations

import logging

import psycopg

import sql
from trt_actors.infra.store import mapped_errors

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
    with mapped_errors(), psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(_TABLE)
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in sql.migrations():
                if migration.version in applied:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                done.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done


def pending(conninfo: str) -> list[int]:
    """Versions not applied yet (for readiness and the pre-deploy check)."""
    with mapped_errors(), psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        applied: set[int] = set()
        if exists and exists[0]:
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    return [m.version for m in sql.migrations() if m.version not in applied]
