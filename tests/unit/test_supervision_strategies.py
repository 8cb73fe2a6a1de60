"""Strategies, restart types, ordered start and stop, dynamic children."""

from __future__ import annotations

import pytest

from supervision import (
    ChildSpec,
    DuplicateChild,
    OneForAllSupervisor,
    OneForOneSupervisor,
    Restart,
    RestForOneSupervisor,
    UnknownChild,
)
from tests.unit.test_supervision_support import (
    WAIT,
    Recorder,
    _stop_all_actors,  # noqa: F401 - the autouse teardown
    child_view,
    make,
    ref_of,
    wait_child,
    wait_running,
    worker,
)


def abc(rec: Recorder, c_restart: Restart = Restart.PERMANENT) -> list[ChildSpec]:
    return [worker("a", rec), worker("b", rec), worker("c", rec, c_restart)]


def test_children_start_in_order_and_stop_in_reverse_order() -> None:
    rec = Recorder()
    sup = make(abc(rec))
    sup.start()

    assert rec.names("start") == ["a", "b", "c"]
    assert sup.stop(timeout=WAIT)
    assert rec.names("stop") == ["c", "b", "a"]
    assert sup.snapshot()["state"] == "stopped"


def test_one_for_one_restarts_only_the_failed_child() -> None:
    rec = Recorder()
    sup = make(abc(rec), OneForOneSupervisor)
    sup.start()
    a, c = ref_of(sup, "a"), ref_of(sup, "c")

    ref_of(sup, "b").tell("boom")

    wait_running(sup, "b", restarts=1)
    assert (ref_of(sup, "a"), ref_of(sup, "c")) == (a, c)
    assert rec.names("start") == ["a", "b", "c", "b"]
    assert rec.names("stop") == []


def test_one_for_all_restarts_every_child_in_order() -> None:
    rec = Recorder()
    sup = make(abc(rec), OneForAllSupervisor)
    sup.start()

    ref_of(sup, "b").tell("boom")

    for name in "abc":
        wait_running(sup, name, restarts=1)
    assert rec.names("stop") == ["c", "a"]  # the survivors, in reverse start order
    assert rec.names("start") == ["a", "b", "c", "a", "b", "c"]


def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it() -> None:
    rec = Recorder()
    sup = make(abc(rec), RestForOneSupervisor)
    sup.start()
    a = ref_of(sup, "a")

    ref_of(sup, "b").tell("boom")

    wait_running(sup, "b", restarts=1)
    wait_running(sup, "c", restarts=1)
    assert ref_of(sup, "a") == a
    assert rec.names("stop") == ["c"]
    assert rec.names("start") == ["a", "b", "c", "b", "c"]


def test_temporary_sibling_is_stopped_with_the_group_but_not_restarted() -> None:
    rec = Recorder()
    sup = make(abc(rec, c_restart=Restart.TEMPORARY), OneForAllSupervisor)
    sup.start()

    ref_of(sup, "a").tell("boom")

    wait_running(sup, "b", restarts=1)
    assert child_view(sup.snapshot(), "c")["state"] == "stopped"
    assert sup.child_ref("c") is None
    assert rec.count("start", "c") == 1


@pytest.mark.parametrize(
    ("restart", "message", "state", "restarted"),
    [
        (Restart.PERMANENT, "quit", "running", True),
        (Restart.PERMANENT, "boom", "running", True),
        (Restart.TRANSIENT, "quit", "stopped", False),
        (Restart.TRANSIENT, "boom", "running", True),
        (Restart.TEMPORARY, "quit", "stopped", False),
        (Restart.TEMPORARY, "boom", "failed", False),
    ],
)
def test_restart_types(restart: Restart, message: str, state: str, restarted: bool) -> None:
    rec = Recorder()
    sup = make([worker("x", rec, restart)])
    sup.start()

    ref_of(sup, "x").tell(message)

    view = wait_child(sup, "x", state, restarts=1 if restarted else 0)
    assert rec.count("start", "x") == (2 if restarted else 1)
    assert (view["last_failure"] is not None) == (message == "boom")


def test_dynamic_children_start_restart_and_terminate() -> None:
    rec = Recorder()
    sup = make([worker("static", rec)])
    sup.start()

    job = sup.start_child(worker("job-1", rec, Restart.TRANSIENT))
    assert job.ask("ping", timeout=WAIT) == "pong"
    assert [c["id"] for c in sup.snapshot()["children"]] == ["static", "job-1"]

    job.tell("boom")
    wait_running(sup, "job-1", restarts=1)

    with pytest.raises(DuplicateChild):
        sup.start_child(worker("job-1", rec))

    sup.terminate_child("job-1")
    assert rec.count("stop", "job-1") == 1
    assert sup.child_ref("job-1") is None
    assert [c["id"] for c in sup.snapshot()["children"]] == ["static"]
    with pytest.raises(UnknownChild):
        sup.terminate_child("job-1")


def test_dynamic_child_whose_factory_fails_is_not_added() -> None:
    def broken() -> object:
        raise OSError("no database")

    sup = make([])
    sup.start()

    with pytest.raises(OSError, match="no database"):
        sup.start_child(ChildSpec("broken", broken))  # type: ignore[arg-type]

    assert sup.snapshot()["children"] == []
    assert sup.snapshot()["restarts_in_window"] == 0
