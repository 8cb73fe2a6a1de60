"""Partition and singleton leases between workers on one real PostgreSQL, and the fence the
database keeps with them (migration 0016): what several worker processes (or nodes) rely on
to never act twice on one chat or job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.waiting import wait_until
from trt_actors import StaleLease, Store
from trt_actors.actors.leases import PARTITIONS, SINGLETONS, LeasePolicy, Leases, partition_of

FAST = LeasePolicy(ttl=1.0, interval=0.1, drain=0.2)


@pytest.fixture
def stores(database: str) -> Iterator[list[Store]]:
    made: list[Store] = []

    def make() -> Store:
        s = Store(database, min_size=1, max_size=4, timeout=10).open()
        made.append(s)
        return s

    yield [make(), make(), make()]
    for s in made:
        s.close()


def save_session(store: Store, chat_id: int) -> None:
    with store.transaction() as tx:
        tx.raw("INSERT INTO chat_sessions (chat_id, user_id) VALUES (%(c)s, %(c)s) "
               "ON CONFLICT (chat_id) DO UPDATE SET updated_at = now()", {"c": chat_id})


def test_a_lone_worker_holds_every_partition_and_singleton(stores: list[Store]) -> None:
    leases = Leases(stores[0], node="n1", policy=FAST).start()
    try:
        assert leases.parts() == list(range(PARTITIONS))
        assert all(leases.holds(name) for name in SINGLETONS)
        save_session(stores[0], 12345)  # fenced, and its partition is held
    finally:
        leases.stop()


def test_a_second_worker_gets_half_and_each_chat_has_one_owner(stores: list[Store]) -> None:
    first = Leases(stores[0], node="n1", policy=FAST).start()
    second = Leases(stores[1], node="n2", policy=FAST).start()
    try:
        wait_until(lambda: len(first.parts()) == len(second.parts()) == PARTITIONS // 2,
                   10, "the partitions split evenly")
        assert set(first.parts()).isdisjoint(second.parts())
        for chat_id in (1, 2, -100123, 64, 10**12):
            assert first.owns_chat(chat_id) != second.owns_chat(chat_id)
            owner = stores[0] if first.owns_chat(chat_id) else stores[1]
            other = stores[1] if owner is stores[0] else stores[0]
            save_session(owner, chat_id)
            with pytest.raises(StaleLease):
                save_session(other, chat_id)
        wait_until(lambda: first.share(0.1) == second.share(0.1) == 0.5, 10, "halved budgets")
    finally:
        first.stop()
        second.stop()


def test_a_dead_workers_leases_are_taken_over_and_its_late_writes_refused(
        stores: list[Store]) -> None:
    dead = Leases(stores[0], node="n1", policy=FAST)
    dead.round()  # holds everything, and then never renews: killed, or paused
    chat_id = 777
    save_session(stores[0], chat_id)
    heir = Leases(stores[1], node="n2", policy=FAST).start()
    try:
        wait_until(lambda: heir.owns_chat(chat_id) and all(heir.holds(n) for n in SINGLETONS),
                   FAST.ttl + 5, "the heir took the dead worker's leases")
        # the dead worker wakes up: its connections still carry its old epochs
        with pytest.raises(StaleLease):
            save_session(stores[0], chat_id)
        save_session(stores[1], chat_id)
        # even if it takes a partition back later, its old epoch stays refused
        rows = stores[2].all("leases_view")
        assert {r["owner"] for r in rows} == {heir.worker_id}
    finally:
        heir.stop()


def test_every_fenced_move_records_the_epoch_it_was_written_under(stores: list[Store]) -> None:
    leases = Leases(stores[0], node="n1", policy=FAST).start()
    try:
        chat_id = 4242
        with stores[0].transaction() as tx:
            tx.raw("INSERT INTO users (id) VALUES (%(c)s)", {"c": chat_id})
            job = tx.raw(
                "INSERT INTO jobs (user_id, chat_id, model_id, family, input, price, "
                "callback_token, expected_seconds, deadline_at) VALUES (%(c)s, %(c)s, 'm', "
                "'market', '{}', 0, 'tok', 60, now() + interval '1 hour') RETURNING id",
                {"c": chat_id})[0]["id"]
        rows = stores[2].all("leases_view")
        epoch = next(r["epoch"] for r in rows if r["name"] == f"part:{partition_of(chat_id)}")
        with stores[2].statements() as tx:
            events = tx.raw("SELECT epoch FROM job_events WHERE job_id = %(j)s", {"j": job})
        assert [e["epoch"] for e in events] == [epoch]
    finally:
        leases.stop()


def test_a_stopped_worker_gives_everything_back_at_once(stores: list[Store]) -> None:
    first = Leases(stores[0], node="n1", policy=LeasePolicy(ttl=30, interval=0.1)).start()
    first.stop()
    second = Leases(stores[1], node="n2", policy=FAST).start()
    try:
        assert len(second.parts()) == PARTITIONS  # no 30 s wait for an expiry
    finally:
        second.stop()


def test_budget_shares_never_add_up_past_the_node_wide_limit(stores: list[Store]) -> None:
    first = Leases(stores[0], node="n1", policy=FAST).start()
    assert first.share(10.0) == 1.0  # alone: the whole budget
    second = Leases(stores[1], node="n2", policy=FAST).start()
    try:
        # the newcomer takes nothing for a window of the limit (the first still uses its
        # whole share until its next round); the first shrinks to half at once
        assert second.share(10.0) == 0.0
        wait_until(lambda: first.share(10.0) == 0.5, 10, "the first worker's half")
        assert second.share(0.0) == 0.5
    finally:
        second.stop()
    # the first grows back only once the second's takes are out of every window
    wait_until(lambda: first.share(0.0) == 1.0, 10, "the whole budget again")
    assert first.share(10.0) == 0.5
    first.stop()


def test_the_workers_of_one_node_take_their_share_from_the_start(
        stores: list[Store]) -> None:
    """Workers started together (``--workers 2``) split the budgets at once: none waits a
    window of the limit, and their sum is never above it."""
    first = Leases(stores[0], node="n1", slot=0, policy=FAST, expected=2).start()
    assert first.share(10.0) == 0.5  # alone for now, but its node is two workers
    second = Leases(stores[1], node="n1", slot=1, policy=FAST, expected=2).start()
    try:
        assert second.share(10.0) == 0.5
    finally:
        second.stop()
        first.stop()


def test_a_partition_is_given_back_only_once_nothing_is_under_way_in_it(
        stores: list[Store]) -> None:
    """A send on the wire or a createTask under way in a partition keeps it with its worker
    while it is being given back: the newcomer never sends that result again or creates a
    second task for that call."""
    under_way = {"yes": True}
    first = Leases(stores[0], node="n1", policy=FAST,
                   busy=lambda parts: set(parts) if under_way["yes"] else set()).start()
    second = Leases(stores[1], node="n2", policy=FAST).start()
    try:
        wait_until(lambda: first.snapshot()["draining"] == PARTITIONS // 2, 10,
                   "the first worker giving half back")
        rounds = first.rounds
        wait_until(lambda: first.rounds >= rounds + 5, 10, "rounds past the drain")
        assert second.parts() == [], "nothing released while work is under way"
        assert len(first.parts()) == PARTITIONS // 2  # but nothing new starts there
        under_way["yes"] = False
        wait_until(lambda: len(second.parts()) == PARTITIONS // 2, 10, "the hand-over")
    finally:
        second.stop()
        first.stop()
