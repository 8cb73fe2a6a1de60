"""Shared helpers for the supervision tests (no tests here).

Named ``test_supervision_*`` to stay inside the supervision tests' files; pytest collects it
and finds nothing to run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pykka
import pytest

from supervision import (
    Backoff,
    ChildSpec,
    OneForOneSupervisor,
    Restart,
    RestartIntensityExceeded,
    SupervisedActor,
    Supervisor,
)

WAIT = 5.0
"""Longest any test waits for something that should happen in milliseconds."""


class Recorder:
    """A thread-safe log of (event, name) pairs that tests wait on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[tuple[str, str]] = []

    def add(self, event: str, name: str) -> None:
        with self._cond:
            self.events.append((event, name))
            self._cond.notify_all()

    def count(self, event: str, name: str) -> int:
        with self._cond:
            return self.events.count((event, name))

    def names(self, event: str) -> list[str]:
        with self._cond:
            return [n for e, n in self.events if e == event]

    def wait_for(self, predicate: Callable[[], bool]) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, WAIT), f"timed out; events: {self.events}"

    def wait_count(self, event: str, name: str, n: int) -> None:
        self.wait_for(lambda: self.count(event, name) >= n)


class Worker(SupervisedActor):
    """A product-like actor that misbehaves on request."""

    def __init__(self, name: str, rec: Recorder, failing_starts: int = 0,
                 start_error: type[BaseException] = RuntimeError) -> None:
        super().__init__()
        self.name = name
        self.rec = rec
        self.failing_starts = failing_starts
        self.start_error = start_error

    def on_start(self) -> None:
        self.rec.add("start", self.name)
        if self.rec.count("start", self.name) <= self.failing_starts:
            raise self.start_error("on_start failed")

    def on_stop(self) -> None:
        self.rec.add("stop", self.name)

    def on_failure(self, *_exc_info: object) -> None:
        self.rec.add("failure", self.name)

    def on_receive(self, message: Any) -> Any:
        match message:
            case "ping":
                return "pong"
            case "boom":
                raise ValueError("boom")
            case "exit":
                raise SystemExit(3)
            case "interrupt":
                raise KeyboardInterrupt
            case "quit":
                self.stop()
        return None


def worker(name: str, rec: Recorder, restart: Restart = Restart.PERMANENT,
           **kwargs: Any) -> ChildSpec:
    """The spec of a :class:`Worker` child."""
    return ChildSpec(name, lambda: Worker.start(name, rec, **kwargs), restart, shutdown=WAIT)


class Timers:
    """A scheduler that records each delay; fires at once, or holds until :meth:`fire`."""

    def __init__(self, *, hold: bool = False) -> None:
        self.hold = hold
        self.delays: list[float] = []
        self.held: list[Callable[[], None]] = []

    def __call__(self, delay: float, fn: Callable[[], None]) -> Callable[[], None]:
        self.delays.append(delay)
        if self.hold:
            self.held.append(fn)
        else:
            fn()
        return lambda: None

    def fire(self) -> None:
        held, self.held = self.held, []
        for fn in held:
            fn()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class GiveUps:
    """An ``on_give_up`` that records instead of exiting the test process."""

    def __init__(self) -> None:
        self.reasons: list[RestartIntensityExceeded] = []
        self.called = threading.Event()

    def __call__(self, reason: RestartIntensityExceeded) -> None:
        self.reasons.append(reason)
        self.called.set()


_made: list[Supervisor] = []


def make(children: Iterable[ChildSpec], cls: type[Supervisor] = OneForOneSupervisor,
         **kwargs: Any) -> Supervisor:
    """A supervisor with test defaults (instant restarts, roomy budget, no process exit)."""
    kwargs.setdefault("intensity", 10)
    kwargs.setdefault("period", 60.0)
    kwargs.setdefault("backoff", Backoff(base=0.001, cap=0.01, jitter=0.0))
    kwargs.setdefault("scheduler", Timers())
    kwargs.setdefault("on_give_up", GiveUps())
    kwargs.setdefault("clock", Clock())
    sup = cls(kwargs.pop("id", "root"), children, **kwargs)
    _made.append(sup)
    return sup


def ref_of(sup: Supervisor, child_id: str) -> pykka.ActorRef[Any]:
    ref = sup.child_ref(child_id)
    assert ref is not None, f"{child_id} is not running: {sup.snapshot()}"
    return ref


def wait_child(sup: Supervisor, child_id: str, state: str, restarts: int = 0) -> dict[str, Any]:
    """Poll the snapshot (with a deadline) until ``child_id`` is in ``state`` after at least
    ``restarts`` restarts; return its view."""
    tick = threading.Event()
    for _ in range(int(WAIT / 0.005)):
        view = child_view(sup.snapshot(), child_id)
        if view["state"] == state and view["restarts"] >= restarts:
            return view
        tick.wait(0.005)
    raise AssertionError(f"{child_id} not {state} after {restarts} restarts: {sup.snapshot()}")


def wait_running(sup: Supervisor, child_id: str, restarts: int) -> pykka.ActorRef[Any]:
    """Wait until ``child_id`` runs after ``restarts`` restarts; return its ref."""
    wait_child(sup, child_id, "running", restarts)
    return ref_of(sup, child_id)


def child_view(snapshot: dict[str, Any], child_id: str) -> dict[str, Any]:
    return next(c for c in snapshot["children"] if c["id"] == child_id)


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """Teardown of every supervision test: the supervisors the test made stop first, then
    every actor left. It bears the name of ``tests/conftest.py``'s teardown, so a test module
    that imports it runs this one instead."""
    yield
    while _made:
        _made.pop().stop(timeout=WAIT)
    pykka.ActorRegistry.stop_all()
