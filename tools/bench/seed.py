"""Bench data written straight into PostgreSQL: many jobs at once, in a chosen state.

Jobs are inserted as ``created`` and moved with plain UPDATEs, so the schema's transition
guard and event trigger run for every row exactly as for the node's own moves. Prices are 0
(the ledger has nothing to hold) and there is one user per chat, ids from ``first_chat``.
The SQL is here, not in ``sql/queries.sql``: it is bench data, never product behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import Connection

from tools.bench.env import connect

MODEL = "google/nano-banana"

_USERS = b"""
INSERT INTO users (id, language)
SELECT %(first_chat)s + c, 'en' FROM generate_series(0, %(chats)s - 1) AS c
ON CONFLICT (id) DO NOTHING"""

# Job g goes to chat first_chat + (g mod chats): consecutive jobs in different chats, as
# results of many users would arrive. next_check_at spreads over `spread` seconds, starting
# `due_in` seconds from now.
_JOBS = b"""
INSERT INTO jobs (user_id, chat_id, model_id, family, input, price, callback_token,
                  idempotency_key, expected_seconds, deadline_at, next_check_at)
SELECT %(first_chat)s + mod(g, %(chats)s), %(first_chat)s + mod(g, %(chats)s), %(model)s,
       'market', jsonb_build_object('prompt', 'bench picture ' || g), 0,
       md5(%(batch)s || ':' || g), %(batch)s || ':' || g, %(expected)s,
       now() + make_interval(secs => %(deadline)s),
       now() + make_interval(secs => %(due_in)s + %(spread)s * mod(g, 3600) / 3600.0)
FROM generate_series(1, %(n)s) AS g
RETURNING id"""

_MOVE = b"""
UPDATE jobs SET state = %(state)s::job_state, cause = %(cause)s::job_cause
WHERE id BETWEEN %(lo)s AND %(hi)s"""

_SUBMITTED = b"""
UPDATE jobs SET submit_attempts = 1, submit_outcome = 'created', submitted_at = now()
WHERE id BETWEEN %(lo)s AND %(hi)s"""

_TASKS = b"""
INSERT INTO kie_tasks (task_id, job_id, attempt, found_by, state)
SELECT 'bench-task-' || id, id, 1, 'submit', 'pending' FROM jobs
WHERE id BETWEEN %(lo)s AND %(hi)s"""

_RESULTS = b"""
UPDATE jobs SET result_urls = jsonb_build_array('https://example.invalid/bench/' || id || '.png')
WHERE id BETWEEN %(lo)s AND %(hi)s"""

_OUTBOX = b"""
INSERT INTO outbox (chat_id, job_id, kind, payload, dedup_key)
SELECT chat_id, id, 'result',
       jsonb_build_object('urls', result_urls, 'result_kind', 'image',
                          'caption', 'bench result ' || id),
       'job:' || id || ':result'
FROM jobs WHERE id BETWEEN %(lo)s AND %(hi)s ORDER BY id"""

_TOKENS = b"""
SELECT id, chat_id, callback_token FROM jobs WHERE id BETWEEN %(lo)s AND %(hi)s ORDER BY id"""


@dataclass(frozen=True, slots=True)
class Seeded:
    """Job ids ``lo``..``hi`` (consecutive)."""

    lo: int
    hi: int

    @property
    def count(self) -> int:
        return self.hi - self.lo + 1


def _insert(conn: Connection[Any], n: int, *, chats: int, first_chat: int, batch: str,
            expected: int, deadline: float, spread: float, due_in: float = 0.0) -> Seeded:
    conn.execute(_USERS, {"first_chat": first_chat, "chats": chats})
    ids = [int(str(r["id"])) for r in conn.execute(_JOBS, {
        "first_chat": first_chat, "chats": chats, "model": MODEL, "batch": batch,
        "expected": expected, "deadline": deadline, "spread": spread, "due_in": due_in,
        "n": n}).fetchall()]
    return Seeded(min(ids), max(ids))


def _to(conn: Connection[Any], seeded: Seeded, state: str, cause: str) -> None:
    conn.execute(_MOVE, {"state": state, "cause": cause, "lo": seeded.lo, "hi": seeded.hi})


def created(database_url: str, n: int, *, chats: int, first_chat: int = 100_000,
            expected: int = 20, deadline: float = 3600.0) -> Seeded:
    """Confirmed jobs nobody has submitted yet (the janitor hands them to job actors)."""
    with connect(database_url) as conn, conn.transaction():
        return _insert(conn, n, chats=chats, first_chat=first_chat, batch="created",
                       expected=expected, deadline=deadline, spread=0.0)


def submitted(database_url: str, n: int, *, chats: int, first_chat: int = 200_000,
              expected: int = 60, deadline: float = 86_400.0, spread: float = 3600.0,
              due_in: float = 0.0) -> Seeded:
    """Jobs waiting on KIE: state ``submitted``, one task ``bench-task-<job id>`` each; the
    next status poll of job g is due ``due_in + spread * (g mod 3600) / 3600`` s from now."""
    with connect(database_url) as conn, conn.transaction():
        seeded = _insert(conn, n, chats=chats, first_chat=first_chat, batch="submitted",
                         expected=expected, deadline=deadline, spread=spread, due_in=due_in)
        _to(conn, seeded, "submitting", "submit")
        _to(conn, seeded, "submitted", "submit")
        conn.execute(_SUBMITTED, {"lo": seeded.lo, "hi": seeded.hi})
        conn.execute(_TASKS, {"lo": seeded.lo, "hi": seeded.hi})
    return seeded


def results(database_url: str, n: int, *, chats: int, first_chat: int = 300_000) -> Seeded:
    """Jobs whose result is ready, and their ``result`` outbox rows, in one transaction (the
    delivery actor sees the whole backlog at once)."""
    with connect(database_url) as conn, conn.transaction():
        seeded = _insert(conn, n, chats=chats, first_chat=first_chat, batch="results",
                         expected=20, deadline=86_400.0, spread=3600.0)
        for state, cause in (("submitting", "submit"), ("submitted", "submit"),
                             ("succeeded", "callback")):
            _to(conn, seeded, state, cause)
        conn.execute(_RESULTS, {"lo": seeded.lo, "hi": seeded.hi})
        conn.execute(_OUTBOX, {"lo": seeded.lo, "hi": seeded.hi})
    return seeded


def tokens(database_url: str, seeded: Seeded) -> list[tuple[int, int, str]]:
    """``(job id, chat id, callback token)`` of each seeded job, in id order."""
    with connect(database_url) as conn:
        rows = conn.execute(_TOKENS, {"lo": seeded.lo, "hi": seeded.hi}).fetchall()
    return [(int(str(r["id"])), int(str(r["chat_id"])), str(r["callback_token"])) for r in rows]
