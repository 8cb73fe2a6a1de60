"""Credits: holds, captures and releases happen exactly once, and never go below zero."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from trt_actors.domain import jobs, ledger
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.errors import FreeLimitReached, InsufficientCredits
from trt_actors.infra.store import Store


def confirm(store: Store, user_id: int, key: str, price: int = 1, free: bool = False,
            free_limit: int | None = None) -> tuple[jobs.Job, bool]:
    return jobs.confirm(store, jobs.NewJob(
        user_id=user_id, chat_id=user_id, model_id="z-image", family="market",
        input={"prompt": "x", "aspect_ratio": "1:1"}, price=price, free=free,
        expected_seconds=10, max_seconds=60, idempotency_key=key,
    ), free_daily_limit=free_limit)


def test_replayed_operations_are_no_ops(store: Store) -> None:
    assert ledger.grant(store, 7, 10, "welcome:7")
    assert not ledger.grant(store, 7, 10, "welcome:7")
    assert ledger.topup(store, 7, 5, "charge-1")
    assert not ledger.topup(store, 7, 5, "charge-1")
    assert ledger.balance(store, 7) == ledger.Balance(available=15, held=0)
    job, _ = confirm(store, 7, "a", price=4)
    with store.transaction() as tx:
        again = ledger.apply(tx, 7, ledger.Entry.HOLD, 4, jobs.hold_ref(job.id))
    assert again is None
    assert ledger.balance(store, 7) == ledger.Balance(available=11, held=4)


def test_delivery_captures_and_failure_releases_once(store: Store) -> None:
    ledger.grant(store, 8, 10, "g")
    ok, _ = confirm(store, 8, "ok", price=3)
    bad, _ = confirm(store, 8, "bad", price=2)
    assert ledger.balance(store, 8) == ledger.Balance(available=5, held=5)
    with store.transaction() as tx:
        for step in (JobState.SUBMITTING, JobState.SUBMITTED, JobState.SUCCEEDED,
                     JobState.DELIVERING, JobState.DELIVERED):
            jobs.move(tx, ok.id, step, Cause.OPERATOR)
        jobs.move(tx, bad.id, JobState.FAILED, Cause.USER, failure=Failure.CANCELLED)
        # A second end for either job is refused by the state machine: nothing moves.
        assert jobs.move(tx, bad.id, JobState.FAILED, Cause.USER, failure=Failure.CANCELLED) is None
    assert ledger.balance(store, 8) == ledger.Balance(available=7, held=0)
    kinds = [(e["kind"], e["amount"]) for e in store.all("ledger_entries", user_id=8)]
    assert kinds == [("grant", 10), ("hold", 3), ("hold", 2), ("capture", 3), ("release", 2)]


def test_second_confirm_with_the_same_key_returns_the_same_job(store: Store) -> None:
    ledger.grant(store, 9, 10, "g")
    first, created1 = confirm(store, 9, "menu-1", price=3)
    second, created2 = confirm(store, 9, "menu-1", price=3)
    assert (created1, created2) == (True, False)
    assert first.id == second.id
    assert ledger.balance(store, 9).available == 7


def test_insufficient_credits_leave_nothing_behind(store: Store) -> None:
    ledger.grant(store, 10, 2, "g")
    try:
        confirm(store, 10, "too-much", price=3)
    except InsufficientCredits as exc:
        assert exc.needed == 3
    else:
        raise AssertionError("a hold beyond the balance must be refused")
    assert store.one("job_by_idempotency_key", idempotency_key="too-much") is None
    assert ledger.balance(store, 10) == ledger.Balance(available=2, held=0)


def test_fifty_concurrent_confirms_against_ten_credits_make_exactly_ten_holds(
    store: Store,
) -> None:
    ledger.grant(store, 11, 10, "g")
    start = threading.Barrier(50)

    def attempt(i: int) -> bool:
        start.wait()
        try:
            confirm(store, 11, f"c{i}", price=1)
        except InsufficientCredits:
            return False
        return True

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(attempt, range(50)))
    assert results.count(True) == 10
    assert ledger.balance(store, 11) == ledger.Balance(available=0, held=10)
    holds = [e for e in store.all("ledger_entries", user_id=11) if e["kind"] == "hold"]
    assert len(holds) == 10


def test_free_daily_limit_is_atomic_and_returned_on_failure(store: Store) -> None:
    first, _ = confirm(store, 12, "f1", price=0, free=True, free_limit=2)
    confirm(store, 12, "f2", price=0, free=True, free_limit=2)
    try:
        confirm(store, 12, "f3", price=0, free=True, free_limit=2)
    except FreeLimitReached as exc:
        assert exc.limit == 2
    else:
        raise AssertionError("a third free job in a day must be refused")
    with store.transaction() as tx:
        jobs.move(tx, first.id, JobState.FAILED, Cause.USER, failure=Failure.CANCELLED)
    confirm(store, 12, "f4", price=0, free=True, free_limit=2)  # the failed one came back
