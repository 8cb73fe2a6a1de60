"""Supervisor: the thread-safe handle on a supervision node, and its three strategies.

Each strategy is a tiny subclass overriding :meth:`Supervisor.restart_group`; everything else
(ordered start, restart budget, backoff, escalation, reverse-ordered stop, snapshot) is shared.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from pykka import ActorDeadError, ActorRef

from supervision._backoff import Backoff, Scheduler, thread_timer
from supervision._core import SupervisorActor
from supervision._errors import DuplicateChild
from supervision._give_up import GiveUp, exit_process
from supervision._messages import StartChild, TerminateChild
from supervision._spec import ChildSpec, ChildState, Restart

T = TypeVar("T")


class Supervisor(abc.ABC):
    """A supervisor: starts its children in order, restarts them by its strategy, escalates.

    The object is a thread-safe handle; the work happens in a pykka actor that each
    :meth:`start` builds anew (so a supervisor can itself be a restartable child: see
    :meth:`child_spec`).

    - **Restart budget**: more than ``intensity`` restarts within ``period`` seconds and the
      supervisor gives up: it stops its children in reverse start order, then *escalates* (its
      actor fails, and its parent treats it as a failed child) or, at the root, calls
      ``on_give_up`` (default: :func:`~supervision.exit_process`, exit status 70).
    - **Backoff**: restarts wait ``backoff.delay(n)`` for the n-th consecutive restart of a
      child, on a timer, so the supervisor's mailbox stays free meanwhile. A child that ran a
      whole ``period`` starts over at n = 1.
    - **Start failures** (the factory raised) count as failures of that child, so a node with a
      dependency down retries with backoff rather than dying at once (Erlang would fail the
      supervisor's start instead).
    - **Normal exits**: a *permanent* child that stops on its own is restarted too, and counts
      against the budget. Stop the supervisor, not its children, to shut down.

    ``clock`` (monotonic seconds) drives the budget window and ``scheduler`` the timers;
    tests inject both. Blocking methods must not be called from this supervisor's children
    while they are being started or stopped (it would wait on itself until the timeout).
    """

    strategy: ClassVar[str]
    """Erlang's name for the strategy, shown in logs and the snapshot."""

    def __init__(
        self,
        id: str,
        children: Iterable[ChildSpec] = (),
        *,
        intensity: int = 3,
        period: float = 5.0,
        backoff: Backoff | None = None,
        on_give_up: GiveUp = exit_process,
        clock: Callable[[], float] = time.monotonic,
        scheduler: Scheduler = thread_timer,
    ) -> None:
        specs = tuple(children)
        seen: set[str] = set()
        for spec in specs:
            if spec.id in seen:
                raise DuplicateChild(spec.id)
            seen.add(spec.id)
        if intensity < 0 or period <= 0:
            raise ValueError("a supervisor needs intensity >= 0 and period > 0")
        self.id = id
        self.specs = specs
        self.intensity = intensity
        self.period = period
        self.backoff = backoff or Backoff()
        self.on_give_up = on_give_up
        self.clock = clock
        self.scheduler = scheduler
        self._lock = threading.RLock()
        self._core: SupervisorActor | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"

    @abc.abstractmethod
    def restart_group(self, children: Sequence[T], failed: int) -> Sequence[T]:
        """The strategy: which children to restart, in start order, when ``children[failed]``
        has died. The others in the group that are still running are stopped first."""

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> ActorRef[Any]:
        """Start a new incarnation and its children, in order; return the actor's ref.

        At the root this returns once every child's ``on_start`` has returned (or timed out).
        Called by a parent supervisor (as this supervisor's ``ChildSpec.start``), it returns at
        once and the parent does the waiting.
        """
        with self._lock:
            if self._core is not None and not self._core.actor_stopped.is_set():
                raise RuntimeError(f"supervisor {self.id!r} is already running")
            ref = SupervisorActor.start(self)
            core = self._core
        assert core is not None
        if not core.has_supervisor:
            core._on_start_done.wait()
        return ref

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the children in reverse start order, then the supervisor. ``False`` if it was
        not running. Raises ``pykka.Timeout`` after ``timeout`` seconds."""
        core = self._core
        if core is None:
            return False
        return core.actor_ref.stop(block=True, timeout=timeout)

    def child_spec(
        self,
        *,
        restart: Restart = Restart.PERMANENT,
        shutdown: float = 60.0,
        start_timeout: float = 60.0,
    ) -> ChildSpec:
        """This supervisor as a child of another one (a supervision tree).

        Give it a ``shutdown`` long enough for its whole subtree to stop.
        """
        return ChildSpec(self.id, self.start, restart, shutdown, start_timeout)

    # --- dynamic children -----------------------------------------------------------------

    def start_child(self, spec: ChildSpec, timeout: float | None = None) -> ActorRef[Any]:
        """Add ``spec`` after the existing children and start it; return its ref.

        Raises :class:`DuplicateChild` if that id is running or restarting (a stopped child
        with that id is replaced), or the factory's own exception (the child is not added).
        Dynamic children do not survive a restart of the supervisor itself.
        """
        result: ActorRef[Any] = self._running().ask(StartChild(spec), block=True, timeout=timeout)
        return result

    def terminate_child(self, child_id: str, timeout: float | None = None) -> None:
        """Stop ``child_id`` (waiting up to its ``shutdown``) and forget it.

        Raises :class:`UnknownChild` if there is no such child.
        """
        self._running().ask(TerminateChild(child_id), block=True, timeout=timeout)

    # --- thread-safe reads ----------------------------------------------------------------

    def is_running(self) -> bool:
        """Started and not stopped (nor given up)."""
        core = self._core
        return core is not None and not core.actor_stopped.is_set()

    def child_ref(self, child_id: str) -> ActorRef[Any] | None:
        """The running actor of ``child_id``, or ``None``. Refs change on every restart:
        look them up when needed rather than keeping them."""
        core = self._core
        return None if core is None else core.child_ref(child_id)

    def snapshot(self) -> dict[str, Any]:
        """The subtree as plain dicts, for the status endpoint. Cheap, any thread.

        ``{"id", "strategy", "state", "intensity", "period", "restarts_in_window",
        "budget_left", "children": [{"id", "restart", "state", "restarts",
        "last_failure": None | {"time", "reason"}, "next_restart": None | ISO time,
        "supervisor": {...} (child supervisors only)}]}``. Times are ISO 8601 UTC.
        """
        core = self._core
        if core is not None:
            return core.snapshot()
        children = [
            {"id": s.id, "restart": s.restart.value, "state": ChildState.STOPPED.value,
             "restarts": 0, "last_failure": None, "next_restart": None}
            for s in self.specs
        ]
        return {
            "id": self.id, "strategy": self.strategy, "state": ChildState.STOPPED.value,
            "intensity": self.intensity, "period": self.period, "restarts_in_window": 0,
            "budget_left": self.intensity, "children": children,
        }

    # --- internals ------------------------------------------------------------------------

    def _attach(self, core: SupervisorActor) -> None:
        """Called by each new incarnation's constructor (inside :meth:`start`)."""
        self._core = core

    def _running(self) -> ActorRef[Any]:
        core = self._core
        if core is None or core.actor_stopped.is_set():
            raise ActorDeadError(f"supervisor {self.id!r} is not running")
        return core.actor_ref


class OneForOneSupervisor(Supervisor):
    """Restart only the child that died: for independent children."""

    strategy = "one_for_one"

    def restart_group(self, children: Sequence[T], failed: int) -> Sequence[T]:
        return children[failed : failed + 1]


class OneForAllSupervisor(Supervisor):
    """Restart every child when one dies: for children that cannot work without each other."""

    strategy = "one_for_all"

    def restart_group(self, children: Sequence[T], failed: int) -> Sequence[T]:
        return children


class RestForOneSupervisor(Supervisor):
    """Restart the child that died and every child started after it: for a chain where later
    children depend on earlier ones."""

    strategy = "rest_for_one"

    def restart_group(self, children: Sequence[T], failed: int) -> Sequence[T]:
        return children[failed:]
