"""The one thin layer over PostgreSQL: a checked connection pool and named queries.

Every psycopg error leaves this module as one of the project's own (``trt_actors.errors``):
connection trouble as ``DatabaseUnavailable`` (retry later: the pool checks connections on
checkout, so the next operation after a PostgreSQL restart gets a fresh one), a refused
state move as ``IllegalTransition``, any other constraint as ``ConstraintViolated``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg.errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

import sql
from trt_actors.errors import (
    ConstraintViolated,
    DatabaseUnavailable,
    IllegalTransition,
    StoreError,
)

Row = dict[str, Any]

_ILLEGAL = re.compile(r"illegal transition: job (\d+) from (\w+) to (\w+)")


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """Turn psycopg and pool errors into the project's exceptions."""
    try:
        yield
    except psycopg.errors.RaiseException as exc:
        match = _ILLEGAL.search(str(exc))
        if match:
            raise IllegalTransition(int(match[1]), match[2], match[3]) from exc
        raise StoreError(str(exc).splitlines()[0]) from exc
    except psycopg.IntegrityError as exc:
        raise ConstraintViolated(exc.diag.constraint_name, str(exc).splitlines()[0]) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnavailable(f"database unavailable: {first}") from exc
    except psycopg.Error as exc:
        raise StoreError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


class Tx:
    """Named queries on one connection, inside one transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def one(self, name: str, **params: Any) -> Row | None:
        with mapped_errors():
            cur = self._conn.execute(sql.queries()[name], params)
            return cur.fetchone() if cur.description else None

    def all(self, name: str, **params: Any) -> list[Row]:
        with mapped_errors():
            return self._conn.execute(sql.queries()[name], params).fetchall()

    def run(self, name: str, **params: Any) -> int:
        """Execute; return the number of rows affected."""
        with mapped_errors():
            return self._conn.execute(sql.queries()[name], params).rowcount

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside rolls back only this block."""
        with mapped_errors(), self._conn.transaction():
            yield

    def raw(self, text: str, params: dict[str, Any] | None = None) -> list[Row]:
        """Run literal SQL (migrations, reports and tests)."""
        with mapped_errors():
            cur = self._conn.execute(text if params else text.encode(), params)
            return cur.fetchall() if cur.description else []


class Store:
    """A pool of checked connections and the named queries, for every actor of the node."""

    def __init__(
        self, conninfo: str, *, min_size: int = 2, max_size: int = 10, timeout: float = 10.0,
        name: str = "trt",
    ) -> None:
        self.conninfo = conninfo
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            name=name,
            open=False,
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "row_factory": dict_row},
            reconnect_timeout=24 * 3600,
        )

    def open(self, *, wait: bool = True, timeout: float = 30.0) -> Store:
        with mapped_errors():
            self._pool.open(wait=wait, timeout=timeout)
        return self

    def close(self) -> None:
        self._pool.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with mapped_errors(), self._pool.connection() as conn, conn.transaction():
            yield Tx(conn)

    @contextlib.contextmanager
    def statements(self) -> Iterator[Tx]:
        """Statements on one autocommit connection, each atomic by itself (no transaction
        around them): two round trips (BEGIN, COMMIT) cheaper than :meth:`transaction`."""
        with mapped_errors(), self._pool.connection() as conn:
            yield Tx(conn)

    def one(self, name: str, **params: Any) -> Row | None:
        with self.statements() as tx:
            return tx.one(name, **params)

    def all(self, name: str, **params: Any) -> list[Row]:
        with self.statements() as tx:
            return tx.all(name, **params)

    def run(self, name: str, **params: Any) -> int:
        with self.statements() as tx:
            return tx.run(name, **params)

    def stats(self) -> dict[str, int]:
        """Pool counters for /status (size, available, waiting, errors...)."""
        return dict(self._pool.get_stats())

    def ping(self) -> bool:
        try:
            with self.statements() as tx:
                tx.raw("SELECT 1")
        except StoreError:
            return False
        return True
