"""Retention (``TRT_RETENTION_DAYS``): the janitor deletes what is done with and older than the
retention — handled Telegram updates (poison ones too), sent or given-up outbox rows, settled
callbacks (applied, rejected, malformed, expired orphans), events of jobs that ended, the
recipients of broadcasts that finished — in bounded batches, and nothing else: unhandled
updates, open outbox rows, pending, parked and claimed callbacks, events of jobs in flight,
jobs and the ledger stay, whatever their age.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic import ValidationError

from tests.support.waiting import wait_until
from trt_actors.actors.janitor import PURGES, Janitor, JanitorPolicy
from trt_actors.actors.router import Router
from trt_actors.actors.ticker import Ticker
from trt_actors.domain import jobs, ledger
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.infra.settings import load_settings, settings_error_line
from trt_actors.infra.store import Store, Tx

DAYS = 30
RETENTION = DAYS * 86400.0
OLD = "now() - interval '31 days'"
YOUNG = "now() - interval '29 days'"
ANCIENT = "now() - interval '400 days'"
USER = 801
TABLES = {"telegram_updates": "update_id", "outbox": "id", "callback_inbox": "id",
          "job_events": "id", "broadcast_recipients": "user_id"}


@dataclass
class Seeded:
    """Row keys by table: the ones the retention deletes and the ones it must keep."""

    purge: dict[str, set[int]] = field(default_factory=lambda: {t: set() for t in TABLES})
    keep: dict[str, set[int]] = field(default_factory=lambda: {t: set() for t in TABLES})
    jobs: int = 0
    ledger: int = 0


def _insert(tx: Tx, sql: str, **params: Any) -> int:
    return int(next(iter(tx.raw(sql, params or None)[0].values())))


def _update(tx: Tx, update_id: int, received: str, handled: str | None,
            poison: str | None = None) -> int:
    return _insert(
        tx, "INSERT INTO telegram_updates (update_id, telegram_update_id, chat_id, payload, "
            f"received_at, handled_at, poison_at) VALUES (%(u)s, %(u)s, {USER}, '{{}}', "
            f"{received}, {handled or 'NULL'}, {poison or 'NULL'}) RETURNING update_id",
        u=update_id)


def _outbox(tx: Tx, status: str, created: str, sent: str | None = None) -> int:
    return _insert(
        tx, "INSERT INTO outbox (chat_id, kind, payload, status, created_at, sent_at) "
            f"VALUES ({USER}, 'text', '{{}}', %(s)s, {created}, {sent or 'NULL'}) RETURNING id",
        s=status)


def _callback(tx: Tx, key: str, status: str, received: str, handled: str | None) -> int:
    return _insert(
        tx, "INSERT INTO callback_inbox (dedup_key, body, status, received_at, handled_at) "
            f"VALUES (%(k)s, '\\x7b7d', %(s)s, {received}, {handled or 'NULL'}) RETURNING id",
        k=key, s=status)


def _broadcast(tx: Tx, key: str, finished: str | None, recipients: tuple[int, ...]) -> set[int]:
    """A broadcast finished at ``finished`` (None: still going) and its recipients."""
    b = _insert(tx, "INSERT INTO broadcasts (admin_id, chat_id, payload, dedup_key, "
                    f"finished_at) VALUES (1, 1, '{{}}', %(k)s, {finished or 'NULL'}) "
                    "RETURNING id", k=key)
    for user in recipients:
        tx.raw("INSERT INTO broadcast_recipients (broadcast_id, user_id) VALUES (%(b)s, %(u)s)",
               {"b": b, "u": user})
    return set(recipients)


def _job(store: Store, key: str, path: tuple[JobState, ...]) -> int:
    job, _ = jobs.confirm(store, jobs.NewJob(
        user_id=USER, chat_id=USER, model_id="z-image", family="market",
        input={"prompt": key}, price=1, free=False, expected_seconds=20, max_seconds=3600,
        idempotency_key=f"retention:{key}"))
    with store.transaction() as tx:
        for to in path:
            failure = Failure.KIE_FAILED if to is JobState.FAILED else None
            assert jobs.move(tx, job.id, to, Cause.OPERATOR, failure=failure) is not None
    return job.id


def _events(tx: Tx, job_id: int) -> set[int]:
    return {r["id"] for r in tx.raw("SELECT id FROM job_events WHERE job_id = %(j)s",
                                    {"j": job_id})}


def seed(store: Store) -> Seeded:
    s = Seeded()
    ledger.grant(store, USER, 100, f"retention-grant:{USER}")
    delivered = _job(store, "delivered", (
        JobState.SUBMITTING, JobState.SUBMITTED, JobState.SUCCEEDED, JobState.DELIVERING,
        JobState.DELIVERED))
    failed_young = _job(store, "failed-young", (JobState.SUBMITTING, JobState.FAILED))
    running = _job(store, "running", (JobState.SUBMITTING, JobState.SUBMITTED,
                                      JobState.RUNNING))
    with store.transaction() as tx:
        # The timestamps the rows would have had: the clock cannot be turned back.
        tx.raw(f"UPDATE job_events SET at = {ANCIENT}")
        tx.raw(f"UPDATE jobs SET finished_at = {OLD} WHERE id = %(j)s", {"j": delivered})
        tx.raw(f"UPDATE jobs SET finished_at = {YOUNG} WHERE id = %(j)s", {"j": failed_young})
        tx.raw(f"UPDATE jobs SET created_at = {ANCIENT}, next_check_at = now() + "
               "interval '1 hour' WHERE id = %(j)s", {"j": running})
        s.purge["job_events"] = _events(tx, delivered)
        s.keep["job_events"] = _events(tx, failed_young) | _events(tx, running)

        u = s.purge["telegram_updates"]
        u |= {_update(tx, 1, ANCIENT, OLD), _update(tx, 2, OLD, OLD),
              _update(tx, 3, ANCIENT, OLD, poison=OLD)}  # a poison update, kept its time
        s.keep["telegram_updates"] |= {
            _update(tx, 4, OLD, YOUNG), _update(tx, 5, ANCIENT, None),  # never handled
            _update(tx, 6, OLD, YOUNG, poison=YOUNG)}

        o = s.purge["outbox"]
        o |= {_outbox(tx, "sent", ANCIENT, OLD), _outbox(tx, "sent", OLD, OLD),
              _outbox(tx, "failed", OLD)}
        s.keep["outbox"] |= {_outbox(tx, "sent", OLD, YOUNG), _outbox(tx, "failed", YOUNG),
                             _outbox(tx, "pending", ANCIENT), _outbox(tx, "sending", ANCIENT)}

        c = s.purge["callback_inbox"]
        c |= {_callback(tx, "applied", "applied", ANCIENT, OLD),
              _callback(tx, "rejected", "rejected", OLD, None),
              _callback(tx, "malformed", "malformed", OLD, OLD),
              _callback(tx, "expired", "expired", ANCIENT, OLD)}
        s.keep["callback_inbox"] |= {
            _callback(tx, "applied-young", "applied", OLD, YOUNG),
            _callback(tx, "expired-young", "expired", OLD, YOUNG),
            _callback(tx, "pending", "pending", ANCIENT, None),
            _callback(tx, "parked", "parked", ANCIENT, None),
            _callback(tx, "claimed", "claimed", ANCIENT, None)}
        s.purge["broadcast_recipients"] |= _broadcast(tx, "old", OLD, (11, 12))
        s.keep["broadcast_recipients"] |= (_broadcast(tx, "young", YOUNG, (13,))
                                           | _broadcast(tx, "going", None, (14,)))
        s.jobs = _count(tx, "jobs")
        s.ledger = _count(tx, "ledger")
    assert s.jobs == 3 and s.ledger == 6 and len(s.purge["job_events"]) == 6
    return s


def _count(tx: Tx, table: str) -> int:
    return int(tx.raw(f"SELECT count(*) AS n FROM {table}")[0]["n"])


def present(store: Store) -> dict[str, set[int]]:
    with store.transaction() as tx:
        return {t: {r["k"] for r in tx.raw(f"SELECT {k} AS k FROM {t}")}
                for t, k in TABLES.items()}


def assert_purged_exactly(store: Store, s: Seeded) -> None:
    found = present(store)
    for table in TABLES:
        assert found[table] == s.keep[table], table
    with store.transaction() as tx:
        assert _count(tx, "jobs") == s.jobs and _count(tx, "ledger") == s.ledger


class _NoJobs:
    """The janitor's job router: nothing in these tests is due for a job actor."""

    def __init__(self) -> None:
        self.routed: list[Any] = []

    def route(self, job_id: int, message: Any) -> None:
        self.routed.append((job_id, message))


@pytest.fixture
def ticker() -> Iterator[Ticker]:
    t = Ticker()
    yield t
    t.stop()


def janitor(store: Store, ticker: Ticker, **policy: Any) -> Janitor:
    # Orphans never expire here and stale callbacks are never handed: only the retention acts.
    return Janitor(store, cast(Router, _NoJobs()), lambda body: None, ticker, JanitorPolicy(
        retention=RETENTION, orphan_ttl=1e9, stale_inbox=1e9, **policy))


def test_purge_deletes_exactly_the_rows_done_with_for_longer_than_the_retention(
        store: Store, ticker: Ticker) -> None:
    s = seed(store)
    # One batch per table per call (no time budget), two rows per batch: bounded batches.
    j = janitor(store, ticker, purge_batch=2, purge_budget=0.0)
    rounds = []
    while any((purged := j.purge()).values()):
        assert all(n <= 2 for n in purged.values()), purged
        rounds.append(purged)
    assert len(rounds) == 3  # 6 events of the delivered job, 2 per batch
    totals = {name: sum(r[name] for r in rounds) for name in PURGES}
    assert totals == {"purge_updates": 3, "purge_outbox": 3, "purge_callbacks": 4,
                      "purge_job_events": 6, "purge_broadcast_recipients": 2}
    assert_purged_exactly(store, s)
    assert j.purge() == dict.fromkeys(PURGES, 0)  # a second pass finds nothing


def test_no_retention_keeps_everything(store: Store, ticker: Ticker) -> None:
    s = seed(store)
    j = Janitor(store, cast(Router, _NoJobs()), lambda body: None, ticker,
                JanitorPolicy(retention=None))
    assert j.purge() == dict.fromkeys(PURGES, 0)
    found = present(store)
    assert all(found[t] == s.purge[t] | s.keep[t] for t in TABLES)


def test_the_janitor_purges_as_it_sweeps(store: Store) -> None:
    s = seed(store)
    ticker = Ticker()
    ref = Janitor.start(store, cast(Router, _NoJobs()), lambda body: None, ticker, JanitorPolicy(
        interval=0.05, retention=RETENTION, orphan_ttl=1e9, stale_inbox=1e9, purge_batch=1))
    try:
        wait_until(lambda: present(store) == s.keep, 20, "the old rows purged by the janitor")
        assert_purged_exactly(store, s)
    finally:
        ref.stop()
        ticker.stop()


def test_the_retention_is_a_setting_of_at_least_a_day() -> None:
    env = {"TRT_TELEGRAM_TOKEN": "123456:retention-test-token", "TRT_KIE_API_KEY": "k" * 12}
    assert load_settings(**env).retention_days == DAYS
    assert load_settings(**env, TRT_RETENTION_DAYS="7").retention_days == 7
    # Telegram resends an unconfirmed update for 24 h: its handled row must outlive that.
    with pytest.raises(ValidationError) as refused:
        load_settings(**env, TRT_RETENTION_DAYS="0")
    assert settings_error_line(refused.value).startswith("TRT_RETENTION_DAYS: ")
