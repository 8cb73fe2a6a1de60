"""The one thin layer over PostgreSQL: a checked connection pool and named queries.

Every psycopg error leaves this module as one of the project's own (``trt_actors.errors``):
connection trouble as ``DatabaseUnavailable`` (retry later: the pool checks connections on
checkout, so the next operation after a PostgreSQL restart gets a fresh one), a refused
state move as ``IllegalTransition`` (recognised by our own SQLSTATE, ``ILLEGAL_TRANSITION``),
any other constraint as ``ConstraintViolated``.

This is the only module of the product that imports psycopg: what other modules need of it
(JSON parameters, a short separate connection, reading a conninfo) is offered here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

import sql
from trt_actors.errors import (
    ConstraintViolated,
    DatabaseUnavailable,
    IllegalTransition,
    StaleLease,
    StoreError,
)

log = logging.getLogger("trt.store")

Row = dict[str, Any]

ILLEGAL_TRANSITION = "TRT01"
"""The SQLSTATE the job guard trigger raises a refused state move with (migration 0004): a
code of our own, in a class PostgreSQL does not use; its DETAIL is the JSON
``{"job_id", "from", "to"}``."""


STALE_LEASE = "TRT02"
"""The SQLSTATE the fence trigger (migration 0016) refuses a write with: the writing worker
does not hold the row's partition under any epoch it carries."""


def jsonb(value: Any) -> Any:
    """Wrap a dict or list to bind it as a ``jsonb`` parameter (a bare list binds as an
    array, so the wrapping is explicit)."""
    return Jsonb(value)


def conninfo_parts(conninfo: str) -> dict[str, Any]:
    """The keywords of a PostgreSQL URL or ``key=value`` string (``password``, ``host``...).

    Raises ``ValueError`` without psycopg's message, which may echo the password."""
    try:
        return conninfo_to_dict(conninfo)
    except Exception:
        raise ValueError("not a PostgreSQL connection string") from None


def _illegal_transition(exc: psycopg.Error) -> IllegalTransition | None:
    try:
        detail = json.loads(exc.diag.message_detail or "")
        return IllegalTransition(int(detail["job_id"]), detail["from"], detail["to"])
    except (ValueError, TypeError, KeyError):
        return None


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """Turn psycopg and pool errors into the project's exceptions."""
    try:
        yield
    except psycopg.Error as exc:
        raise _mapped(exc) from exc


def _mapped(exc: psycopg.Error) -> StoreError:
    if exc.sqlstate == ILLEGAL_TRANSITION and (illegal := _illegal_transition(exc)):
        return illegal
    if exc.sqlstate == STALE_LEASE:
        return StaleLease(str(exc).splitlines()[0])
    if isinstance(exc, psycopg.errors.RaiseException):
        return StoreError(str(exc).splitlines()[0])
    if isinstance(exc, psycopg.IntegrityError):
        return ConstraintViolated(exc.diag.constraint_name, str(exc).splitlines()[0])
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)):
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        return DatabaseUnavailable(f"database unavailable: {first}")
    return StoreError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


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


@contextlib.contextmanager
def connect(conninfo: str, *, connect_timeout: int | None = None) -> Iterator[Tx]:
    """One fresh autocommit connection outside any pool, closed when the block ends: for
    the migration runner and the status probe (the pool would make a probe wait out its
    checkout timeout). Each statement is atomic by itself; ``Tx.savepoint`` opens a real
    transaction here. ``connect_timeout`` in seconds (libpq's minimum is 2)."""
    extra: dict[str, Any] = {} if connect_timeout is None else {"connect_timeout": connect_timeout}
    with (
        mapped_errors(),
        psycopg.connect(conninfo, autocommit=True, row_factory=dict_row, **extra) as conn,
    ):
        yield Tx(conn)


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
        self._fence: str | None = None
        self._fenced: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        """The fence each pooled connection carries now (set once per connection and
        change: a session setting, so a transaction pays nothing for it)."""
        self._fence_lock = threading.Lock()

    def open(self, *, wait: bool = True, timeout: float = 30.0) -> Store:
        with mapped_errors():
            self._pool.open(wait=wait, timeout=timeout)
        return self

    def close(self) -> None:
        self._pool.close()

    def set_fence(self, epochs: list[int] | None) -> None:
        """The lease epochs this worker holds (migration 0016): from the next checkout on,
        every connection of the pool carries them, and the database refuses a write to a
        chat or job of a partition not leased under one of them (``StaleLease``). ``None``:
        no fence (a part run alone, in a test or a tool)."""
        fence = None if epochs is None else "," + ",".join(str(e) for e in sorted(epochs)) + ","
        with self._fence_lock:
            self._fence = fence

    def _carry_fence(self, conn: psycopg.Connection[Row]) -> None:
        fence = self._fence
        with self._fence_lock:
            carried = self._fenced.get(conn)
        if (fence is None and carried is None) or fence == carried:
            return
        conn.execute("SELECT set_config('trt.fence', %s, false)", [fence or ""])
        with self._fence_lock:
            self._fenced[conn] = fence or ""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with mapped_errors(), self._pool.connection() as conn:
            self._carry_fence(conn)
            with conn.transaction():
                yield Tx(conn)

    @contextlib.contextmanager
    def statements(self) -> Iterator[Tx]:
        """Statements on one autocommit connection, each atomic by itself (no transaction
        around them): two round trips (BEGIN, COMMIT) cheaper than :meth:`transaction`."""
        with mapped_errors(), self._pool.connection() as conn:
            self._carry_fence(conn)
            yield Tx(conn)

    def listen(self, channel: str, on_notify: Callable[[str], None],
               stop: threading.Event, *, on_connect: Callable[[], None] | None = None) -> None:
        """LISTEN on ``channel`` on a connection of its own until ``stop`` is set, calling
        ``on_notify(payload)`` for each notification (on this thread). A lost connection is
        opened again (``on_connect`` runs after each LISTEN: what was sent while nobody
        listened is for the caller to look up)."""
        failures = 0
        while not stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {channel}")
                    failures = 0
                    if on_connect is not None:
                        on_connect()
                    while not stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            try:
                                on_notify(note.payload)
                            except Exception:
                                log.exception("LISTEN %s: a wake-up failed", channel)
            except psycopg.Error as exc:
                failures += 1
                if failures == 1:
                    log.warning("LISTEN %s: %s; connecting again", channel,
                                (str(exc).splitlines() or [type(exc).__name__])[0])
                stop.wait(min(0.2 * 2 ** failures, 5.0))

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
