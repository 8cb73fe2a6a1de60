"""The actor behind a Supervisor: starts, watches, restarts and stops the children.

One actor per supervisor incarnation (a restarted supervisor is a new actor with only its
static children, as in Erlang). Everything here runs on the actor's thread except
:meth:`SupervisorActor.snapshot` and :meth:`SupervisorActor.child_ref`, which only read,
under ``_lock``; the thread writes child records under the same lock and never holds it
across a blocking call.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from pykka import ActorDeadError, ActorRef, Timeout

from supervision._actor import ExitCallback, Link, SupervisedActor, linked
from supervision._backoff import Cancel
from supervision._child import Child, describe
from supervision._errors import DuplicateChild, NotLinked, RestartIntensityExceeded, UnknownChild
from supervision._messages import ChildExited, RestartDue, StartChild, TerminateChild
from supervision._spec import ChildSpec, ChildState, Restart

if TYPE_CHECKING:
    from supervision._supervisor import Supervisor

logger = logging.getLogger("trt.supervision")

_LIVE = (ChildState.RUNNING, ChildState.RESTARTING)


class SupervisorActor(SupervisedActor):
    """One incarnation of a :class:`~supervision.Supervisor` (which holds the configuration)."""

    def __init__(self, supervisor: Supervisor) -> None:
        super().__init__()
        self._sup = supervisor
        self._lock = threading.Lock()
        self._children = [Child(spec) for spec in supervisor.specs]
        self._window: deque[float] = deque()  # clock readings of restarts within the period
        self._state = ChildState.RUNNING
        self._timers: dict[int, Cancel] = {}
        self._tokens = itertools.count(1)
        supervisor._attach(self)

    def __str__(self) -> str:
        return f"supervisor {self._sup.id!r}"

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        logger.info("%s: starting %d children (%s)", self, len(self._children), self._sup.strategy)
        try:
            for child in list(self._children):
                # A failure earlier in the loop may already have scheduled this one.
                if self._state is ChildState.RUNNING and child.state is ChildState.STOPPED:
                    self._start_or_handle(child)
        except BaseException:
            # pykka skips on_failure when on_start fails; do not orphan what was started.
            self._stop_children()
            raise

    def on_stop(self) -> None:
        with self._lock:
            if self._state is ChildState.RUNNING:
                self._state = ChildState.STOPPED
        self._stop_children()
        logger.info("%s: stopped", self)

    def on_failure(self, *_exc_info: object) -> None:
        # A supervisor that dies takes its children with it (Erlang's links do the same).
        with self._lock:
            if self._state is ChildState.RUNNING:
                self._state = ChildState.FAILED
        self._stop_children()

    def on_receive(self, message: Any) -> Any:
        match message:
            case ChildExited():
                self._child_exited(message)
            case RestartDue(token=token):
                self._restart_due(token)
            case StartChild(spec=spec):
                return self._start_child(spec)
            case TerminateChild(child_id=child_id):
                return self._terminate_child(child_id)
            case _:
                logger.warning("%s: unexpected message %r", self, message)
        return None

    # --- thread-safe reads ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """This supervisor and its children as plain dicts (see ``Supervisor.snapshot``)."""
        sup = self._sup
        now = sup.clock()
        with self._lock:
            used = sum(1 for t in self._window if t > now - sup.period)
            rows = [(child.snapshot(), child.actor) for child in self._children]
            state = self._state
        children = []
        for view, actor in rows:
            if isinstance(actor, SupervisorActor):
                view["supervisor"] = actor.snapshot()  # outside our lock: no lock nesting
            children.append(view)
        return {
            "id": sup.id,
            "strategy": sup.strategy,
            "state": state.value,
            "intensity": sup.intensity,
            "period": sup.period,
            "restarts_in_window": used,
            "budget_left": max(sup.intensity - used, 0),
            "children": children,
        }

    def child_ref(self, child_id: str) -> ActorRef[Any] | None:
        """The running incarnation of ``child_id``, or ``None``."""
        with self._lock:
            child = self._find(child_id)
            return None if child is None else child.ref

    # --- starting -------------------------------------------------------------------------

    def _launch(self, child: Child) -> Exception | None:
        """Start a new incarnation of ``child``; return the error if its factory failed."""
        spec = child.spec
        with self._lock:
            child.started_at = self._sup.clock()
        link: Link | None = None
        ref: object = None
        try:
            with linked(self._exit_reporter(spec.id)) as link:
                ref = spec.start()
            actor = link.actor
            if actor is None or actor.actor_urn != getattr(ref, "actor_urn", None):
                raise NotLinked(spec.id)
        except Exception as exc:
            # Started but not what the factory returned, or not watchable: do not orphan it.
            claimed = link.actor if link is not None else None
            for stray in (ref, claimed.actor_ref if claimed is not None else None):
                if isinstance(stray, ActorRef):
                    stray.stop(block=False)
            logger.error("%s: child %r failed to start: %s", self, spec.id, describe(exc))
            return exc
        if not actor._on_start_done.wait(spec.start_timeout):
            logger.warning("%s: child %r still in on_start after %gs, carrying on",
                           self, spec.id, spec.start_timeout)
        with self._lock:
            child.ref, child.actor, child.state = ref, actor, ChildState.RUNNING
            child.pending = child.next_restart_at = None
        logger.info("%s: started child %r (%s)", self, spec.id, actor)
        return None

    def _start_or_handle(self, child: Child) -> None:
        error = self._launch(child)
        if error is not None:
            self._handle_death(child, error)

    def _exit_reporter(self, child_id: str) -> ExitCallback:
        tell = self._tell_self

        def report(actor: SupervisedActor, reason: BaseException | None) -> None:
            tell(ChildExited(child_id, actor.actor_urn, reason))

        return report

    def _tell_self(self, message: object) -> None:
        # If this supervisor is gone, whatever it would have done is moot.
        with contextlib.suppress(ActorDeadError):
            self.actor_ref.tell(message)

    # --- deaths and restarts --------------------------------------------------------------

    def _child_exited(self, exited: ChildExited) -> None:
        child = self._find(exited.child_id)
        if child is None or child.ref is None or child.ref.actor_urn != exited.actor_urn:
            return  # an incarnation we stopped ourselves, or one already replaced
        with self._lock:
            child.ref = None
        if exited.reason is None:
            logger.info("%s: child %r stopped", self, child.spec.id)
        else:
            logger.warning("%s: child %r failed: %s", self, child.spec.id, describe(exited.reason))
        self._handle_death(child, exited.reason)

    def _handle_death(self, child: Child, reason: BaseException | None) -> None:
        restart = child.spec.restart
        with self._lock:
            if reason is not None:
                child.last_failure, child.last_failure_at = describe(reason), time.time()
            if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and reason is None):
                child.state = ChildState.STOPPED if reason is None else ChildState.FAILED
                child.pending = child.next_restart_at = None
                return
        self._restart(child, reason)

    def _restart(self, child: Child, reason: BaseException | None) -> None:
        sup = self._sup
        now = sup.clock()
        with self._lock:
            while self._window and self._window[0] <= now - sup.period:
                self._window.popleft()
            exhausted = len(self._window) >= sup.intensity
            if not exhausted:
                self._window.append(now)
                # A child that ran a whole period was healthy: its backoff starts over.
                stable = now - child.started_at >= sup.period
                child.consecutive = 1 if stable else child.consecutive + 1
        if exhausted:
            self._give_up(child, reason)
            return
        group = sup.restart_group(self._children, self._children.index(child))
        # Temporary siblings are stopped with the group but never restarted (as in Erlang);
        # siblings already stopped for good stay stopped.
        revive = [
            c for c in group
            if c is child or (c.state in _LIVE and c.spec.restart is not Restart.TEMPORARY)
        ]
        for sibling in reversed(group):
            if sibling is not child and sibling.ref is not None:
                self._shutdown(sibling)
        delay = sup.backoff.delay(child.consecutive)
        token = next(self._tokens)
        due = time.time() + delay
        with self._lock:
            for c in revive:
                c.state, c.pending, c.next_restart_at = ChildState.RESTARTING, token, due
        logger.info("%s: restarting %s in %.3fs (%s, attempt %d)", self,
                    ", ".join(repr(c.spec.id) for c in revive), delay, sup.strategy,
                    child.consecutive)
        self._timers[token] = sup.scheduler(delay, partial(self._tell_self, RestartDue(token)))

    def _restart_due(self, token: int) -> None:
        self._timers.pop(token, None)
        for child in list(self._children):
            # A failure earlier in this loop may have rescheduled the rest with a new token.
            if child.pending == token and self._state is ChildState.RUNNING:
                with self._lock:
                    child.restarts += 1
                self._start_or_handle(child)

    def _give_up(self, child: Child, reason: BaseException | None) -> None:
        sup = self._sup
        error = RestartIntensityExceeded(sup.id, child.spec.id, sup.intensity, sup.period)
        error.__cause__ = reason
        with self._lock:
            child.state = ChildState.GIVEN_UP
            child.pending = child.next_restart_at = None
            self._state = ChildState.GIVEN_UP
        escalate = self.has_supervisor
        logger.error("%s; %s", error,
                     "escalating to its parent" if escalate else "giving up")
        self._stop_children()
        if escalate:
            raise error  # this actor fails; the parent sees a failed child
        try:
            sup.on_give_up(error)
        except Exception:
            logger.exception("%s: on_give_up failed", self)
        self.stop()

    # --- stopping -------------------------------------------------------------------------

    def _stop_children(self) -> None:
        """Cancel pending restarts, then stop running children in reverse start order."""
        for cancel in self._timers.values():
            cancel()
        self._timers.clear()
        for child in reversed(self._children):
            if child.ref is not None:
                self._shutdown(child)
            with self._lock:
                if child.state is ChildState.RESTARTING:
                    child.state = ChildState.STOPPED
                child.pending = child.next_restart_at = None

    def _shutdown(self, child: Child) -> None:
        """Stop one child on purpose; its exit report will then be ignored."""
        ref = child.ref
        with self._lock:
            child.ref, child.state = None, ChildState.STOPPED
            child.pending = child.next_restart_at = None
        if ref is None:
            return
        try:
            ref.stop(block=True, timeout=child.spec.shutdown)
        except Timeout:
            logger.error("%s: child %r did not stop within %gs; abandoned",
                         self, child.spec.id, child.spec.shutdown)
        else:
            logger.info("%s: stopped child %r", self, child.spec.id)

    # --- dynamic children -----------------------------------------------------------------

    def _start_child(self, spec: ChildSpec) -> ActorRef[Any]:
        with self._lock:
            existing = self._find(spec.id)
            if existing is not None:
                if existing.state in _LIVE:
                    raise DuplicateChild(spec.id)
                self._children.remove(existing)
            child = Child(spec)
            self._children.append(child)
        error = self._launch(child)
        if error is not None or child.ref is None:
            with self._lock:
                self._children.remove(child)
            raise error or NotLinked(spec.id)
        return child.ref

    def _terminate_child(self, child_id: str) -> None:
        child = self._find(child_id)
        if child is None:
            raise UnknownChild(child_id)
        self._shutdown(child)
        with self._lock:
            self._children.remove(child)
        logger.info("%s: terminated child %r", self, child_id)

    def _find(self, child_id: str) -> Child | None:
        return next((c for c in self._children if c.spec.id == child_id), None)
