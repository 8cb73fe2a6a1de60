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

# The move to submitted with what a createTask answer records, in one pass over the rows (a
# second UPDATE of a million rows would cost as much again).
_SUBMITTED = b"""
UPDATE jobs SET state = 'submitted', cause = 'submit', submit_attempts = 1,
                submit_outcome = 'created', submitted_at = now()
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


# Rows done with, older than a retention of 30 days: their times spread over the 9 days
# before the cutoff. Sizes like the node's own rows (a text update, a result message, a
# market callback).
_OLD = "now() - interval '31 days' - make_interval(secs => mod(g, 777600))"

_OLD_UPDATES = f"""
INSERT INTO telegram_updates (telegram_update_id, bot_id, chat_id, payload, received_at,
                              handled_at)
SELECT g, 777000, c, jsonb_build_object('update_id', g, 'message',
         jsonb_build_object('message_id', g, 'date', 1700000000, 'text', 'bench message ' || g,
                            'chat', jsonb_build_object('id', c, 'type', 'private'),
                            'from', jsonb_build_object('id', c, 'first_name', 'Bench',
                                                       'language_code', 'en'))),
       t, t + interval '1 second'
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT %(first_chat)s + mod(g, %(chats)s) AS c, {_OLD} AS t) AS x""".encode()

_OLD_OUTBOX = f"""
INSERT INTO outbox (chat_id, kind, payload, dedup_key, status, attempts, message_ids,
                    created_at, sent_at)
SELECT %(first_chat)s + mod(g, %(chats)s), 'result',
       jsonb_build_object('urls', jsonb_build_array('https://example.invalid/old/' || g || '.png'),
                          'result_kind', 'image', 'caption', 'bench result ' || g),
       'old:' || g, 'sent', 1, jsonb_build_array(g), t, t + interval '2 seconds'
FROM generate_series(1, %(n)s) AS g, LATERAL (SELECT {_OLD} AS t) AS x""".encode()

# Mostly applied; one in ten rejected (forged), one in ten an expired orphan.
_OLD_CALLBACKS = f"""
INSERT INTO callback_inbox (token, task_id, dedup_key, body, status, received_at, handled_at)
SELECT g || '.old-secret', 'old-task-' || g, 'old:' || g,
       convert_to(json_build_object('code', 200, 'msg', 'Playground task completed successfully.',
           'data', json_build_object('taskId', 'old-task-' || g, 'model', 'google/nano-banana',
               'state', 'success', 'param', '{{"prompt": "bench picture"}}',
               'resultJson', '{{"resultUrls": ["https://example.invalid/old/' || g || '.png"]}}',
               'failCode', '', 'failMsg', '', 'costTime', 1000,
               'completeTime', 1700000000000, 'createTime', 1699999999000))::text, 'UTF8'),
       x.status, t, CASE WHEN x.status = 'rejected' THEN NULL ELSE t + interval '1 second' END
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT {_OLD} AS t,
                     (CASE mod(g, 10) WHEN 0 THEN 'rejected' WHEN 1 THEN 'expired'
                      ELSE 'applied' END)::inbox_status AS status) AS x""".encode()

_ENDED_LONG_AGO = b"""
UPDATE jobs SET finished_at = now() - interval '31 days' - make_interval(secs => mod(id, 777600))
WHERE id BETWEEN %(lo)s AND %(hi)s"""

_OLD_EVENTS = b"""
UPDATE job_events SET at = j.finished_at - make_interval(secs => 60)
FROM jobs AS j WHERE j.id = job_events.job_id AND j.id BETWEEN %(lo)s AND %(hi)s"""


def purgeable(database_url: str, n: int, *, chats: int = 1000,
              first_chat: int = 400_000) -> dict[str, int]:
    """About ``n`` rows a retention of 30 days deletes: events of delivered jobs (0.4 n; the
    jobs themselves, kept, come with them), handled updates, sent results and settled
    callbacks (0.2 n each). Returns the rows written, by table."""
    events_per_job = 6  # created, submitting, submitted, succeeded, delivering, delivered
    share = {"job_events": n * 2 // 5 // events_per_job * events_per_job,
             "telegram_updates": n // 5, "outbox": n // 5}
    share["callback_inbox"] = n - sum(share.values())
    args = {"first_chat": first_chat, "chats": chats}
    with connect(database_url) as conn, conn.transaction():
        seeded = _insert(conn, share["job_events"] // events_per_job, chats=chats,
                         first_chat=first_chat, batch="ended", expected=20,
                         deadline=86_400.0, spread=0.0)
        _to(conn, seeded, "submitting", "submit")
        conn.execute(_SUBMITTED, {"lo": seeded.lo, "hi": seeded.hi})
        for state, cause in (("succeeded", "callback"), ("delivering", "delivery"),
                             ("delivered", "delivery")):
            _to(conn, seeded, state, cause)
        span = {"lo": seeded.lo, "hi": seeded.hi}
        conn.execute(_ENDED_LONG_AGO, span)
        conn.execute(_OLD_EVENTS, span)
        conn.execute(_OLD_UPDATES, {**args, "n": share["telegram_updates"]})
        conn.execute(_OLD_OUTBOX, {**args, "n": share["outbox"]})
        conn.execute(_OLD_CALLBACKS, {**args, "n": share["callback_inbox"]})
    return share


def tokens(database_url: str, seeded: Seeded) -> list[tuple[int, int, str]]:
    """``(job id, chat id, callback token)`` of each seeded job, in id order."""
    with connect(database_url) as conn:
        rows = conn.execute(_TOKENS, {"lo": seeded.lo, "hi": seeded.hi}).fetchall()
    return [(int(str(r["id"])), int(str(r["chat_id"])), str(r["callback_token"])) for r in rows]
