"""The worker invariants on hand-made rows: each catches the defect it names, and a clean
run of two workers passes (no node, no database: ``Outcome.query`` answers from the rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tests.chaos.harness import Outcome, Profile
from tests.chaos.invariants_workers import check_workers, kill_coverage, stale_epoch_writes

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


HISTORY = [
    # part:3 held by slot 0 from 0 s until slot 1 took it over at 10 s; slot 1 holds it still.
    {"epoch": 7, "name": "part:3", "owner": "chaos/0/100", "acquired_at": s(0), "ended_at": s(10)},
    {"epoch": 9, "name": "part:3", "owner": "chaos/1/101", "acquired_at": s(12), "ended_at": None},
    {"epoch": 8, "name": "intake", "owner": "chaos/1/101", "acquired_at": s(1), "ended_at": None},
]


def event(id_: int, epoch: int, at: datetime) -> dict[str, Any]:
    return {"id": id_, "job_id": 40 + id_, "epoch": epoch, "at": at}


def test_writes_while_the_lease_was_held_pass() -> None:
    events = [event(1, 7, s(0)), event(2, 7, s(10)), event(3, 9, s(12)), event(4, 9, s(500)),
              event(5, 7, s(0) - timedelta(microseconds=900))]  # clock slack under 1 ms
    assert stale_epoch_writes(events, HISTORY) == []


def test_a_write_after_the_epoch_was_taken_over_is_stale() -> None:
    found = stale_epoch_writes([event(1, 7, s(10.5))], HISTORY)
    assert len(found) == 1 and "after chaos/0/100's hold of part:3 ended" in found[0]


def test_a_write_before_the_lease_was_acquired_is_caught() -> None:
    found = stale_epoch_writes([event(1, 9, s(11))], HISTORY)
    assert len(found) == 1 and "before chaos/1/101 acquired part:3" in found[0]


def test_an_unknown_epoch_and_a_non_partition_epoch_are_caught() -> None:
    found = stale_epoch_writes([event(1, 99, s(5)), event(2, 8, s(5))], HISTORY)
    assert any("no lease ever had that epoch" in f for f in found)
    assert any("the 'intake' lease" in f for f in found)


def test_many_violations_are_named_five_then_counted() -> None:
    found = stale_epoch_writes([event(i, 7, s(20 + i)) for i in range(12)], HISTORY)
    assert len(found) == 6 and found[-1] == "... and 7 more like the last"


def test_kills_must_hit_a_worker_and_the_intake_leader() -> None:
    assert kill_coverage({"worker": 1, "intake": 1}, 2, workers=2) == []
    assert kill_coverage({"worker": 2}, 2, workers=2) == [
        "2 kills never hit the intake leader: {'worker': 2}"]
    assert kill_coverage({"node": 5}, 5, workers=2) == [
        "5 kills never hit a worker nor the intake leader: {'node': 5}"]
    assert kill_coverage({"intake": 1}, 1, workers=2) == []
    assert kill_coverage({"node": 1}, 1, workers=2) != []
    assert kill_coverage({"node": 2}, 2, workers=1) == []


class CannedOutcome(Outcome):
    """An outcome whose database answers are the given rows."""

    rows: dict[str, list[dict[str, Any]]]

    def query(self, sql: str) -> list[dict[str, Any]]:
        for key, rows in self.rows.items():
            if key in sql:
                return rows
        raise AssertionError(f"unexpected query {sql}")


def outcome(events: list[dict[str, Any]], **fields: Any) -> CannedOutcome:
    out = CannedOutcome(Profile("workers", users=1, kills=2, workers=2), "",
                        cast(Any, None), cast(Any, None), [], **fields)
    out.rows = {"to_regclass": [{"ok": True}], "FROM job_events": events,
                "FROM lease_history": HISTORY}
    return out


CLEAN_KILLS = [{"kind": "worker", "pid": 100, "restart_s": 1.5},
               {"kind": "intake", "pid": 101, "takeover_s": 3.2, "restart_s": 1.4}]


def test_a_clean_run_of_two_workers_passes() -> None:
    w = check_workers(outcome([event(1, 7, s(3))], kill_log=CLEAN_KILLS))
    assert w.violations == []
    assert (w.kills, w.max_takeover_s, w.max_restart_s, w.fenced_events) == (
        {"worker": 1, "intake": 1}, 3.2, 1.5, 1)


def test_two_pollers_orphans_and_an_unchecked_run_are_violations() -> None:
    kills = [*CLEAN_KILLS, {"kind": "node", "pid": 99, "orphans": [100]}]
    w = check_workers(outcome([], kill_log=kills, poll_overlaps=2, orphans=[101]))
    assert w.violations == [
        "2 getUpdates came while another was in flight: two pollers of one bot at once",
        "the workers [100] outlived their killed parent 99",
        "the workers [101] outlived the node's stop",
        "no job event names a lease epoch: the stale-epoch check saw nothing",
    ]
