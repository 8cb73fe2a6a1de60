"""Backoff, restart intensity, escalation up the tree, giving up, and the snapshot."""

from __future__ import annotations

import os
import threading
from datetime import datetime

import pytest

import supervision
from supervision import (
    GIVE_UP_EXIT_CODE,
    Backoff,
    OneForOneSupervisor,
    RestartIntensityExceeded,
    thread_timer,
)
from tests.unit.test_supervision_support import (
    WAIT,
    Clock,
    GiveUps,
    Recorder,
    Timers,
    _stop_all_actors,  # noqa: F401 - the autouse teardown
    child_view,
    make,
    ref_of,
    wait_child,
    wait_running,
    worker,
)


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=3.0, jitter=0.0)

    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.delay(10_000) == 3.0


def test_backoff_jitter_shortens_the_delay_by_up_to_its_fraction() -> None:
    draws = iter([0.0, 0.5, 0.999])
    backoff = Backoff(base=2.0, cap=2.0, jitter=0.5, random=lambda: next(draws))

    assert [backoff.delay(1) for _ in range(3)] == pytest.approx([2.0, 1.5, 1.001])
    with pytest.raises(ValueError):
        Backoff(jitter=1.5)


def test_consecutive_restarts_wait_longer_until_the_child_runs_a_whole_period() -> None:
    rec, clock, timers = Recorder(), Clock(), Timers()
    sup = make([worker("a", rec)], backoff=Backoff(base=1.0, cap=4.0, jitter=0.0),
               clock=clock, scheduler=timers, period=10.0, intensity=100)
    sup.start()

    for n in range(1, 5):
        ref_of(sup, "a").tell("boom")
        wait_running(sup, "a", restarts=n)
    clock.now += 10.0  # ran a whole period: healthy again
    ref_of(sup, "a").tell("boom")
    wait_running(sup, "a", restarts=5)

    assert timers.delays == [1.0, 2.0, 4.0, 4.0, 1.0]


def test_restart_waits_on_a_timer_without_blocking_the_supervisor() -> None:
    rec, timers = Recorder(), Timers(hold=True)
    sup = make([worker("a", rec)], scheduler=timers)
    sup.start()

    ref_of(sup, "a").tell("boom")
    view = wait_child(sup, "a", "restarting")
    assert datetime.fromisoformat(view["next_restart"]).tzinfo is not None
    # The supervisor still answers while the restart is pending.
    assert sup.start_child(worker("b", rec)).ask("ping", timeout=WAIT) == "pong"

    timers.fire()
    assert wait_running(sup, "a", restarts=1).ask("ping", timeout=WAIT) == "pong"
    assert child_view(sup.snapshot(), "a")["next_restart"] is None


def test_default_thread_timer_restarts_the_child() -> None:
    rec = Recorder()
    sup = make([worker("a", rec)], scheduler=thread_timer,
               backoff=Backoff(base=0.005, cap=0.01))
    sup.start()

    ref_of(sup, "a").tell("exit")

    assert wait_running(sup, "a", restarts=1).ask("ping", timeout=WAIT) == "pong"


def test_too_many_restarts_within_the_period_gives_up_and_stops_all_in_reverse() -> None:
    rec, give_ups = Recorder(), GiveUps()
    sup = make([worker("a", rec), worker("b", rec), worker("c", rec)],
               intensity=2, period=10.0, on_give_up=give_ups)
    sup.start()

    for n in (1, 2):
        ref_of(sup, "b").tell("boom")
        wait_running(sup, "b", restarts=n)
    assert sup.snapshot()["budget_left"] == 0
    ref_of(sup, "b").tell("boom")

    assert give_ups.called.wait(WAIT)
    reason = give_ups.reasons[0]
    assert (reason.supervisor_id, reason.child_id) == ("root", "b")
    assert rec.names("stop") == ["c", "a"]
    snapshot = sup.snapshot()
    assert snapshot["state"] == "given_up"
    assert [c["state"] for c in snapshot["children"]] == ["stopped", "given_up", "stopped"]


def test_failures_spread_beyond_the_period_never_give_up() -> None:
    rec, clock, give_ups = Recorder(), Clock(), GiveUps()
    sup = make([worker("a", rec)], intensity=2, period=10.0, clock=clock,
               on_give_up=give_ups)
    sup.start()

    for n in range(1, 7):
        ref_of(sup, "a").tell("boom")
        wait_running(sup, "a", restarts=n)
        clock.now += 6.0  # at most two restarts in any 10 s

    assert not give_ups.called.is_set()
    assert sup.snapshot()["restarts_in_window"] == 1


def test_child_supervisor_escalates_and_its_parent_restarts_it() -> None:
    rec, give_ups = Recorder(), GiveUps()
    sub = make([worker("b", rec), worker("c", rec)], id="sub", intensity=1)
    root = make([worker("a", rec), sub.child_spec(shutdown=WAIT)], on_give_up=give_ups)
    root.start()
    a = ref_of(root, "a")

    for n in (1, 2):  # the second failure exceeds sub's budget of 1
        sub_ref = sub.child_ref("b")
        assert sub_ref is not None
        sub_ref.tell("boom")
        if n == 1:
            wait_running(sub, "b", restarts=1)

    view = wait_child(root, "sub", "running", restarts=1)
    assert view["last_failure"]["reason"].startswith("RestartIntensityExceeded")
    assert [c["state"] for c in view["supervisor"]["children"]] == ["running", "running"]
    assert ref_of(sub, "b").ask("ping", timeout=WAIT) == "pong"
    assert ref_of(root, "a") == a
    assert not give_ups.called.is_set()


def test_escalation_reaching_the_root_stops_everything_in_reverse_and_gives_up() -> None:
    rec, give_ups = Recorder(), GiveUps()
    sub = make([worker("b", rec), worker("c", rec)], id="sub", intensity=0)
    root = make([worker("a", rec), sub.child_spec(shutdown=WAIT), worker("d", rec)],
                intensity=0, on_give_up=give_ups)
    root.start()
    assert rec.names("start") == ["a", "b", "c", "d"]

    ref_of(sub, "c").tell("boom")

    assert give_ups.called.wait(WAIT)
    assert isinstance(give_ups.reasons[0], RestartIntensityExceeded)
    assert give_ups.reasons[0].child_id == "sub"
    assert rec.names("stop") == ["b", "d", "a"]
    assert root.snapshot()["state"] == "given_up"


def test_snapshot_describes_the_tree() -> None:
    rec = Recorder()
    sub = make([worker("b", rec)], id="sub", intensity=4, period=30.0)
    root = make([worker("a", rec), sub.child_spec()], id="root", intensity=5, period=60.0)
    root.start()
    ref_of(sub, "b").tell("boom")
    wait_running(sub, "b", restarts=1)

    snapshot = root.snapshot()

    assert {k: snapshot[k] for k in ("id", "strategy", "state", "intensity", "period")} == {
        "id": "root", "strategy": "one_for_one", "state": "running",
        "intensity": 5, "period": 60.0,
    }
    assert (snapshot["restarts_in_window"], snapshot["budget_left"]) == (0, 5)
    a, nested = snapshot["children"]
    assert a == {"id": "a", "restart": "permanent", "state": "running", "restarts": 0,
                 "last_failure": None, "next_restart": None}
    assert "supervisor" not in a
    tree = nested["supervisor"]
    assert (tree["id"], tree["restarts_in_window"], tree["budget_left"]) == ("sub", 1, 3)
    b = tree["children"][0]
    assert (b["id"], b["state"], b["restarts"]) == ("b", "running", 1)
    assert b["last_failure"]["reason"] == "ValueError: boom"
    assert datetime.fromisoformat(b["last_failure"]["time"]).tzinfo is not None


def test_snapshot_of_a_supervisor_never_started_lists_its_children_stopped() -> None:
    sup = OneForOneSupervisor("idle", [worker("a", Recorder())])

    snapshot = sup.snapshot()

    assert snapshot["state"] == "stopped"
    assert [(c["id"], c["state"]) for c in snapshot["children"]] == [("a", "stopped")]


def test_default_give_up_exits_the_process_with_the_documented_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exited = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        exited.set()

    monkeypatch.setattr(os, "_exit", fake_exit)

    supervision.exit_process(RestartIntensityExceeded("root", "a", 3, 5.0))

    assert exited.is_set()
    assert codes == [GIVE_UP_EXIT_CODE] == [70]
