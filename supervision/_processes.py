"""ProcessSupervisor: keeps N operating-system processes running, one per numbered slot.

The process-level twin of :class:`~supervision.Supervisor` (one_for_one over slots): a child
that exits while the supervisor is not stopping is started again after a backoff, within a
restart budget; an exit code that restarting cannot help ends the whole group at once. It
knows nothing of what the children run: the caller gives a command and an environment per
slot. Logs go to ``trt.supervision``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from supervision._backoff import Backoff, Cancel, Scheduler, thread_timer
from supervision._give_up import GIVE_UP_EXIT_CODE

logger = logging.getLogger("trt.supervision")

Command = Callable[[int], Sequence[str]]
"""``command(slot)``: the argv of the process for that slot (called at every (re)start)."""

Environment = Callable[[int], Mapping[str, str]]
"""``env(slot)``: the whole environment of the process for that slot."""


@dataclass(frozen=True, slots=True)
class _Exited:
    """A child process ended (reported by its waiter thread)."""

    slot: int
    proc: subprocess.Popen[bytes] | None
    """``None``: the process could not be started at all."""
    pid: int
    code: int
    """``Popen.returncode``: the exit code, or ``-signum`` when a signal ended it."""


_SPAWN_FAILED = 127
"""The code a child that could not be started is reported with (the shell's "not found")."""


@dataclass(frozen=True, slots=True)
class _RestartDue:
    """A slot's backoff ran out; ``token`` tells a current timer from a cancelled one."""

    slot: int
    token: int


@dataclass(slots=True)
class _Slot:
    number: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    consecutive: int = 0
    """Restarts in a row without a whole ``period`` of running in between."""
    pending: int | None = None
    """The token of the scheduled restart, if one is."""
    restarts: int = 0


def describe_exit(code: int) -> str:
    """``exit code 3`` or ``signal SIGKILL`` (``Popen.returncode`` is ``-signum``)."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:
        return f"signal {-code}"


@dataclass(eq=False)
class ProcessSupervisor:
    """Runs ``count`` child processes (slots ``0 .. count-1``) and keeps them running.

    - **Restart**: a child that exits while the supervisor is not stopping, with any code or
      signal, is started again after ``backoff.delay(n)`` for its n-th restart in a row (a
      child that ran a whole ``period`` starts over at n = 1). One line is logged: slot, pid,
      exit code or signal, delay.
    - **Fatal exits**: a child exiting with a code in ``fatal_codes`` (by default 2: its
      configuration was refused) stops the others and ends the supervisor with that code.
    - **Budget**: more than ``intensity`` restarts within ``period`` seconds and it gives up:
      the others are stopped and it ends with :data:`~supervision.GIVE_UP_EXIT_CODE` (70).
    - **Stop**: SIGTERM to every child, then SIGKILL to those still running after
      ``stop_timeout`` seconds.

    An end of its own (fatal exit, budget spent) calls ``on_end(code)`` once, from the
    supervisor's thread, after the children have stopped; :meth:`wait` returns the code.
    Each child runs in its own process group, so a terminal's Ctrl-C reaches only the parent,
    which then stops the children in order. A child must see to its own end if the parent is
    killed (nothing here can outlive a ``kill -9``): e.g. watch ``os.getppid()``.
    """

    count: int
    command: Command
    env: Environment | None = None
    """``None``: the children inherit this process's environment."""
    name: str = "workers"
    """Shown in the log lines."""
    intensity: int = 10
    period: float = 60.0
    backoff: Backoff = field(default_factory=Backoff)
    fatal_codes: Collection[int] = (2,)
    stop_timeout: float = 40.0
    on_end: Callable[[int], None] | None = None
    clock: Callable[[], float] = time.monotonic
    scheduler: Scheduler = thread_timer

    def __post_init__(self) -> None:
        if self.count < 1 or self.intensity < 0 or self.period <= 0 or self.stop_timeout < 0:
            raise ValueError("a process supervisor needs count >= 1, intensity >= 0, "
                             "period > 0 and stop_timeout >= 0")
        self._slots = [_Slot(n) for n in range(self.count)]
        self._lock = threading.Lock()
        self._events: queue.SimpleQueue[_Exited | _RestartDue | None] = queue.SimpleQueue()
        self._window: deque[float] = deque()
        self._timers: dict[int, Cancel] = {}
        self._tokens = 0
        self._stopping = False
        self._started = False
        self._code: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"{self.name}-supervisor",
                                        daemon=True)

    # --- the caller's side ----------------------------------------------------------------

    def start(self) -> ProcessSupervisor:
        """Start every slot's process, in slot order; return at once."""
        with self._lock:
            if self._started:
                raise RuntimeError(f"{self.name}: already started")
            self._started = True
            for slot in self._slots:
                self._spawn(slot)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> int:
        """Stop every child (SIGTERM, then SIGKILL after ``timeout`` or ``stop_timeout``
        seconds) and return the code the supervisor ended with: 0 unless it had already ended
        by itself. Safe to call more than once and from any thread."""
        if self._begin_stop():
            self._terminate_all(self.stop_timeout if timeout is None else timeout)
            self._finish(0)
        self._done.wait()
        assert self._code is not None
        return self._code

    def wait(self, timeout: float | None = None) -> int | None:
        """The code the supervisor ended with, or ``None`` if it still runs after ``timeout``."""
        self._done.wait(timeout)
        return self._code

    def pids(self) -> dict[int, int]:
        """Slot number → pid of its running process (slots waiting for a restart are absent)."""
        with self._lock:
            return {s.number: s.proc.pid for s in self._slots
                    if s.proc is not None and s.proc.returncode is None}

    def restarts(self) -> dict[int, int]:
        """Slot number → how many times its process was restarted."""
        with self._lock:
            return {s.number: s.restarts for s in self._slots}

    # --- the supervisor's thread ----------------------------------------------------------

    def _loop(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            if isinstance(event, _Exited):
                self._exited(event)
            else:
                self._restart_due(event)

    def _exited(self, event: _Exited) -> None:
        slot, code = self._slots[event.slot], event.code
        what = f"{self.name}: slot {slot.number} (pid {event.pid}) exited with " \
               f"{describe_exit(code)}"
        with self._lock:
            if self._stopping or slot.proc is not event.proc:
                return  # stopped on purpose, or an incarnation already replaced
            slot.proc = None
            now = self.clock()
            while self._window and self._window[0] <= now - self.period:
                self._window.popleft()
            fatal = code in self.fatal_codes
            exhausted = len(self._window) >= self.intensity
        if fatal:
            logger.critical("%s: restarting cannot help; stopping the others", what)
            self._end(code)
        elif exhausted:
            logger.critical("%s: more than %d restarts in %gs; giving up", what,
                            self.intensity, self.period)
            self._end(GIVE_UP_EXIT_CODE)
        else:
            self._schedule_restart(slot, now, what)

    def _schedule_restart(self, slot: _Slot, now: float, what: str) -> None:
        with self._lock:
            if self._stopping:
                return
            self._window.append(now)
            # A child that ran a whole period was healthy: its backoff starts over.
            slot.consecutive = 1 if now - slot.started_at >= self.period else \
                slot.consecutive + 1
            delay = self.backoff.delay(slot.consecutive)
            self._tokens += 1
            token = slot.pending = self._tokens
            due = _RestartDue(slot.number, token)
            self._timers[token] = self.scheduler(delay, lambda: self._events.put(due))
        logger.warning("%s; restarting in %.2fs (attempt %d)", what, delay, slot.consecutive)

    def _restart_due(self, event: _RestartDue) -> None:
        slot = self._slots[event.slot]
        with self._lock:
            self._timers.pop(event.token, None)
            if self._stopping or slot.pending != event.token:
                return
            slot.pending = None
            slot.restarts += 1
            self._spawn(slot)

    def _spawn(self, slot: _Slot) -> None:
        """Start the slot's process and its waiter thread (under ``_lock``)."""
        slot.started_at = self.clock()
        try:
            proc = subprocess.Popen(list(self.command(slot.number)),
                                    env=None if self.env is None else dict(self.env(slot.number)),
                                    process_group=0)
        except OSError as exc:
            # As a child that died at once: restarted with backoff, within the budget.
            logger.error("%s: slot %d could not be started: %s", self.name, slot.number, exc)
            slot.proc = None
            self._events.put(_Exited(slot.number, None, 0, _SPAWN_FAILED))
            return
        slot.proc = proc
        logger.info("%s: slot %d started, pid %d", self.name, slot.number, proc.pid)
        threading.Thread(target=self._watch, args=(slot.number, proc),
                         name=f"{self.name}-slot-{slot.number}-wait", daemon=True).start()

    def _watch(self, number: int, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        self._events.put(_Exited(number, proc, proc.pid, code))

    # --- ending ---------------------------------------------------------------------------

    def _begin_stop(self) -> bool:
        """Mark the supervisor as stopping and cancel pending restarts; ``False`` if another
        thread is already ending it."""
        with self._lock:
            if self._stopping:
                return False
            self._stopping = True
            timers = list(self._timers.values())
            self._timers.clear()
            for slot in self._slots:
                slot.pending = None
        for cancel in timers:
            cancel()
        return True

    def _end(self, code: int) -> None:
        """The supervisor ends by itself (on its thread): stop the rest, report ``code``."""
        if not self._begin_stop():
            return
        self._terminate_all(self.stop_timeout)
        self._finish(code)
        if self.on_end is not None:
            try:
                self.on_end(code)
            except Exception:
                logger.exception("%s: on_end failed", self.name)

    def _terminate_all(self, timeout: float) -> None:
        with self._lock:
            running = [(s.number, s.proc) for s in self._slots
                       if s.proc is not None and s.proc.returncode is None]
        for _, proc in running:
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for number, proc in running:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("%s: slot %d (pid %d) did not stop within %gs; killing it",
                             self.name, number, proc.pid, timeout)
                _signal(proc, signal.SIGKILL)
                proc.wait()
        logger.info("%s: %d processes stopped", self.name, len(running))

    def _finish(self, code: int) -> None:
        self._code = code
        self._done.set()
        self._events.put(None)


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone (reaped meanwhile)
        proc.send_signal(sig)
