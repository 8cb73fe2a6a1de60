"""Virtual actors: started on demand, passivated when idle, never more than max_active."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from trt_actors.actors.router import Router, VirtualActor


class Recorder(VirtualActor):
    """Appends (key, message, actor number) to a shared list; blocks on 'gate' messages."""

    def __init__(self, key: Hashable, router: Router, log: list[Any], gates: dict[Any, Any],
                 generation: list[int]) -> None:
        super().__init__(key, router)
        generation[0] += 1
        self.generation = generation[0]
        self.log = log
        self.gates = gates

    def handle(self, message: Any) -> None:
        if message in self.gates:
            entered, release = self.gates[message]
            entered.set()
            assert release.wait(5)
        if message == "boom":
            raise SystemExit("a handler must not take the process down")
        self.log.append((self.key, message, self.generation))


def make_router(max_active: int = 4) -> tuple[Router, list[Any], dict[Any, Any]]:
    log: list[Any] = []
    gates: dict[Any, Any] = {}
    generation = [0]

    def factory(key: Hashable, router: Router) -> Any:
        return Recorder.start(key, router, log, gates, generation)

    return Router("test", factory, max_active=max_active), log, gates


def test_actor_is_started_on_demand_and_passivates_when_idle() -> None:
    router, log, _ = make_router()
    router.route(1, "a")
    assert router.wait_idle(5)
    assert log == [(1, "a", 1)]
    snap = router.snapshot()
    assert (snap["active"], snap["started"], snap["passivated"]) == (0, 1, 1)
    router.route(1, "b")  # re-activated: a new actor, the same key
    assert router.wait_idle(5)
    assert log[-1] == (1, "b", 2)


def test_messages_arriving_while_busy_are_handled_in_order_by_the_same_actor() -> None:
    router, log, gates = make_router()
    entered, release = threading.Event(), threading.Event()
    gates["slow"] = (entered, release)
    router.route(1, "slow")
    assert entered.wait(5)
    for m in ("x", "y", "z"):
        router.route(1, m)
    release.set()
    assert router.wait_idle(5)
    assert [m for _, m, _ in log] == ["slow", "x", "y", "z"]
    assert {g for _, _, g in log} == {1}


def test_messages_stashed_during_passivation_reach_a_fresh_actor() -> None:
    router, log, _ = make_router()
    for i in range(200):  # races route() against idle()/stop() many times
        router.route(7, i)
    assert router.wait_idle(5)
    assert [m for _, m, _ in log] == list(range(200))


def test_no_more_than_max_active_actors_and_waiting_keys_run_later() -> None:
    router, log, gates = make_router(max_active=2)
    gate_events = {}
    for key in ("g1", "g2"):
        entered, release = threading.Event(), threading.Event()
        gates[key] = (entered, release)
        gate_events[key] = (entered, release)
        router.route(key, key)
    for entered, _ in gate_events.values():
        assert entered.wait(5)
    for n in range(10):
        router.route(n, "work")
    snap = router.snapshot()
    assert snap["active"] == 2 and snap["waiting_keys"] == 10
    assert all(m in ("g1", "g2") for _, m, _ in log)
    for _, release in gate_events.values():
        release.set()
    assert router.wait_idle(5)
    assert sorted(k for k, m, _ in log if m == "work") == list(range(10))


def test_system_exit_in_a_handler_stops_nothing_else() -> None:
    router, log, _ = make_router()
    router.route(1, "boom")
    router.route(2, "fine")
    router.route(1, "after")
    assert router.wait_idle(5)
    assert (2, "fine", 2) in log or (2, "fine", 1) in log
    assert [m for k, m, _ in log if k == 1] == ["after"]
    assert router.snapshot()["failures"] == 1
