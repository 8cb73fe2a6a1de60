"""Child specifications: what a supervisor needs to know to (re)start one child."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pykka import ActorRef


class Restart(StrEnum):
    """When a child that exited is started again (Erlang's restart types)."""

    PERMANENT = "permanent"
    """Always restarted, even after a normal stop."""

    TRANSIENT = "transient"
    """Restarted only after an abnormal exit (a failure)."""

    TEMPORARY = "temporary"
    """Never restarted."""


class ChildState(StrEnum):
    """A supervised child's state, as shown by ``Supervisor.snapshot()``."""

    RUNNING = "running"
    """The child's actor is alive."""

    RESTARTING = "restarting"
    """The child is dead and a restart is scheduled (see ``next_restart``)."""

    STOPPED = "stopped"
    """Stopped normally (or by its supervisor) and not to be restarted."""

    FAILED = "failed"
    """Failed and not to be restarted (temporary child)."""

    GIVEN_UP = "given_up"
    """Its failure spent the supervisor's restart budget."""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to start one supervised child.

    pykka actors cannot be restarted in place, so ``start`` must build and start a *new*
    actor every time it is called, and return its ref. The actor must be a
    :class:`~supervision.SupervisedActor` (it reports its own death) constructed in the calling
    thread, e.g. ``start=lambda: Poller.start(settings)``. A child supervisor is a child too:
    see :meth:`~supervision.Supervisor.child_spec`.
    """

    id: str
    """Unique among the supervisor's children; names the child in logs and the snapshot."""

    start: Callable[[], ActorRef[Any]]
    """Factory: builds and starts a new actor, returns its ref."""

    restart: Restart = Restart.PERMANENT
    """When the child is restarted after it exits."""

    shutdown: float = 5.0
    """Seconds to wait for a graceful stop; after that the supervisor gives up waiting, logs
    it, and carries on (a Python thread cannot be killed)."""

    start_timeout: float = 30.0
    """Seconds to wait for the child's ``on_start`` to return before starting the next child
    (ordered start, like Erlang's synchronous ``start_link``). Past it the supervisor logs a
    warning and carries on; a later ``on_start`` failure is still reported."""
