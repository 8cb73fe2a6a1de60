"""SupervisedActor: a pykka actor that reports its death and dies alone.

Plain pykka gives a supervisor nothing to watch: ``on_failure`` fires only for ``tell``
failures, and a ``BaseException`` (``SystemExit``, ``KeyboardInterrupt``) escaping a handler
makes pykka call ``ActorRegistry.stop_all()``, stopping *every* actor in the process. This
base class changes exactly that:

- **tell** a message whose handler raises any exception → the actor fails: ``on_failure`` runs,
  the actor stops, its supervisor restarts it. (As in pykka.)
- **ask** a message whose handler raises an ``Exception`` → the exception goes back to the caller
  and the actor keeps running: a bad request is the caller's error to handle. (As in pykka.)
- any handler (tell or ask) lets a ``BaseException`` escape → only this actor fails:
  ``on_failure`` runs, an ``ask()`` caller gets :class:`ActorCrashed`, and nothing else stops.
  Actors never run on the main thread, so ``KeyboardInterrupt`` is a failure like the rest.
- ``on_start`` raises anything → the actor fails (``on_failure`` is not called, as in pykka).
- ``on_stop`` raises → the stop counts as a failure.

Subclasses use pykka's hooks as usual: ``on_start``, ``on_stop``, ``on_failure``,
``on_receive`` (and proxies).

The seam is pykka's message loop (``_actor_loop_running``): it is the only place that knows
whether a message was told or asked, which the rules above need. The override keeps pykka's
loop shape and uses only what pykka's own loop uses (``actor_inbox``, the envelope's
``message``/``reply_to``, ``_handle_receive``, ``_handle_failure``), so proxies, ``_ActorStop``
and teardown stay pykka's. ``_actor_loop`` is wrapped to report the exit exactly once.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pykka import ThreadingActor

from supervision._errors import ActorCrashed

logger = logging.getLogger("trt.supervision")

ExitCallback = Callable[["SupervisedActor", BaseException | None], None]
"""Told an actor's exit from the actor's own thread: ``None`` for a normal stop, else the
exception that killed it."""


@dataclass(slots=True)
class Link:
    """Handed by a supervisor to the next SupervisedActor constructed on its thread."""

    on_exit: ExitCallback
    actor: SupervisedActor | None = None


_pending = threading.local()


@contextmanager
def linked(on_exit: ExitCallback) -> Iterator[Link]:
    """Link the first SupervisedActor constructed in this block (on this thread) to ``on_exit``.

    Like Erlang's ``start_link``: the link exists from construction, before the actor's thread
    starts, so a death during ``on_start`` cannot be missed. After the block,
    ``link.actor`` is the actor that took the link (``None`` if none was built).
    """
    link = Link(on_exit)
    previous = getattr(_pending, "link", None)
    _pending.link = link
    try:
        yield link
    finally:
        _pending.link = previous


class SupervisedActor(ThreadingActor):
    """Base class for supervised actors: see the module docstring for the failure rules."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        link: Link | None = getattr(_pending, "link", None)
        if link is not None and link.actor is None:
            link.actor = self
            self._link: Link | None = link
        else:
            self._link = None
        self._exit_reason: BaseException | None = None
        self._on_start_done = threading.Event()

    @property
    def has_supervisor(self) -> bool:
        """Whether a supervisor is told when this actor exits."""
        return self._link is not None

    # --- pykka seams ----------------------------------------------------------------------

    def _actor_loop(self) -> None:
        try:
            super()._actor_loop()
        except BaseException:  # defensive: fail this actor alone, never the thread
            self._handle_failure(*sys.exc_info())
            self._actor_loop_teardown()
        finally:
            self._report_exit()

    def _actor_loop_setup(self) -> None:
        try:
            self.on_start()
        except BaseException:  # pykka lets BaseException kill the thread silently
            self._handle_failure(*sys.exc_info())
        finally:
            self._on_start_done.set()

    def _actor_loop_running(self) -> None:
        while not self.actor_stopped.is_set():
            envelope = self.actor_inbox.get()
            reply_to = envelope.reply_to
            try:
                response = self._handle_receive(envelope.message)
            except Exception:
                if reply_to is not None:
                    # The caller's error: it gets the exception, the actor lives on.
                    logger.debug("%s: exception returned to caller", self, exc_info=True)
                    reply_to.set_exception()
                else:
                    self._fail(*sys.exc_info())
            except BaseException as exc:  # pykka would stop every actor here
                if reply_to is not None:
                    crashed = ActorCrashed(str(self), exc)
                    crashed.__cause__ = exc
                    reply_to.set_exception((ActorCrashed, crashed, exc.__traceback__))
                self._fail(type(exc), exc, exc.__traceback__)
            else:
                if reply_to is not None:
                    reply_to.set(response)

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Every pykka-detected death passes here (on_start, on_stop, handler, on_failure);
        # the first one is the reason the supervisor hears.
        if self._exit_reason is None:
            self._exit_reason = exception_value or RuntimeError(f"{exception_type} in {self}")
        super()._handle_failure(exception_type, exception_value, traceback)

    # --- internals ------------------------------------------------------------------------

    def _fail(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop this actor as failed: log, unregister, run ``on_failure``."""
        self._handle_failure(exception_type, exception_value, traceback)
        try:
            self.on_failure(exception_type, exception_value, traceback)
        except BaseException:  # a failing hook must not escape the loop either
            self._handle_failure(*sys.exc_info())

    def _report_exit(self) -> None:
        if self._link is None:
            return
        try:
            self._link.on_exit(self, self._exit_reason)
        except Exception:
            logger.exception("%s: could not report its exit to its supervisor", self)
