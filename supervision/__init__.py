"""Erlang/OTP-style supervision for pykka actors.

Product actors subclass :class:`SupervisedActor` (it reports its death and never takes the
other actors down with it); supervisors start them from :class:`ChildSpec` factories and
restart them by strategy (:class:`OneForOneSupervisor`, :class:`OneForAllSupervisor`,
:class:`RestForOneSupervisor`) within a restart budget, with backoff, escalating up the tree
and finally exiting the process (:data:`GIVE_UP_EXIT_CODE`) so the service manager restarts
the node. ``Supervisor.snapshot()`` feeds the status endpoint. :class:`ProcessSupervisor` does
the same for operating-system processes (the node's workers). Logs go to ``trt.supervision``.
"""

from __future__ import annotations

from supervision._actor import SupervisedActor
from supervision._backoff import Backoff, Cancel, Scheduler, thread_timer
from supervision._errors import (
    ActorCrashed,
    DuplicateChild,
    NotLinked,
    RestartIntensityExceeded,
    SupervisionError,
    UnknownChild,
)
from supervision._give_up import GIVE_UP_EXIT_CODE, GiveUp, exit_process
from supervision._processes import ProcessSupervisor
from supervision._spec import ChildSpec, ChildState, Restart
from supervision._supervisor import (
    OneForAllSupervisor,
    OneForOneSupervisor,
    RestForOneSupervisor,
    Supervisor,
)

__all__ = [
    "GIVE_UP_EXIT_CODE",
    "ActorCrashed",
    "Backoff",
    "Cancel",
    "ChildSpec",
    "ChildState",
    "DuplicateChild",
    "GiveUp",
    "NotLinked",
    "OneForAllSupervisor",
    "OneForOneSupervisor",
    "ProcessSupervisor",
    "RestForOneSupervisor",
    "Restart",
    "RestartIntensityExceeded",
    "Scheduler",
    "SupervisedActor",
    "SupervisionError",
    "Supervisor",
    "UnknownChild",
    "exit_process",
    "thread_timer",
]
