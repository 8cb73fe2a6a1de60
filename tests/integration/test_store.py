"""The store survives PostgreSQL dropping its connections; migrations are idempotent."""

from __future__ import annotations

import threading

import psycopg

import sql
from tests.conftest import Postgres
from trt_actors.domain import ledger
from trt_actors.infra.migrations import migrate, pending
from trt_actors.infra.store import Store


def test_migrate_twice_and_concurrently_is_safe(postgres: Postgres, database: str) -> None:
    assert migrate(database) == []  # the template already has everything
    assert pending(database) == []
    fresh = f"trt_fresh_{threading.get_ident()}"
    postgres.execute(f'CREATE DATABASE "{fresh}"')
    try:
        conninfo = postgres.conninfo(fresh)
        every = [m.version for m in sql.migrations()]
        assert pending(conninfo) == every
        results: list[list[int]] = []
        threads = [threading.Thread(target=lambda: results.append(migrate(conninfo)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [[], every]  # one runner applied all, the other none
        assert pending(conninfo) == []
    finally:
        postgres.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


def test_next_operation_succeeds_after_backends_are_terminated(store: Store, database: str) -> None:
    ledger.grant(store, 1, 5, "g1")
    dbname = psycopg.conninfo.conninfo_to_dict(database)["dbname"]
    with psycopg.connect(database, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,),
        ).fetchone()
    assert killed and killed[0] >= 1
    # The pool checks each connection on checkout and replaces the dead ones.
    assert ledger.grant(store, 1, 5, "g2")
    assert ledger.balance(store, 1).available == 10
