"""Pacing of Telegram sends: ≤ N messages/s per bot and ≤ M/s per chat, with no 429 at all.

Telegram (and the emulator) count a send at the moment *they* accept it, somewhere between
our request going out and its answer coming back. A limiter that counts launch times can
therefore be fooled by network jitter (two sends launched 1.0 s apart may arrive 0.99 s
apart). This one counts every send as occupying its slot **until its answer arrived**, plus
the window: a send in flight is counted as "now", a finished one until ``answered + window``.
Whatever the latency, the server can never see more than ``capacity`` sends in any window,
nor two sends to one chat closer than ``1 / per_chat_per_second``. The price is one
round-trip time per window (measured: 97 % of 30 msg/s against the local emulator), not a
guessed safety margin.

On top, launches are spaced ``weight / per_second`` apart, so a backlog is sent as a steady
stream rather than bursts of 30 at the top of every second.

:class:`Pacer` is the arithmetic (single-threaded, clock passed in: unit-testable);
:class:`SendGate` is its asyncio face: ``async with gate.slot(chat, weight, order)`` waits
for a slot, oldest ``order`` first, and records the answer time on exit.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

__all__ = ["Pacer", "SendGate"]

_NEVER = math.inf


class Pacer:
    """Slots for sends; all times are ``clock()`` seconds, passed in by the caller."""

    def __init__(self, per_second: float = 30.0, per_chat_per_second: float = 1.0, *,
                 margin: float = 0.005) -> None:
        if per_second <= 0 or per_chat_per_second <= 0:
            raise ValueError("rates must be positive")
        self.per_second = per_second
        self.capacity = max(1, math.floor(per_second))
        # ``capacity`` sends per window; the window grows with the rounding so the rate holds.
        self.window = self.capacity / per_second + margin
        self.chat_interval = 1.0 / per_chat_per_second + margin
        self._answered: deque[float] = deque()  # answer times of finished sends, one per unit
        self._in_flight = 0  # units launched and not answered yet
        self._next_start = 0.0
        self._chat_free_at: dict[int, float] = {}
        self._chat_busy: set[int] = set()
        self._paused_until = 0.0
        self._chat_paused: dict[int, float] = {}

    # --- questions ---------------------------------------------------------------------------

    def chat_wait(self, chat_id: int, now: float) -> float:
        """Seconds until ``chat_id`` may get its next send (``inf``: one is in flight)."""
        if chat_id in self._chat_busy:
            return _NEVER
        free = max(self._chat_free_at.get(chat_id, 0.0), self._chat_paused.get(chat_id, 0.0))
        return max(free - now, 0.0)

    def global_wait(self, weight: int, now: float) -> float:
        """Seconds until a send of ``weight`` units fits the bot-wide limit (``inf``: only
        an answer to a send in flight can make room)."""
        while self._answered and self._answered[0] + self.window <= now:
            self._answered.popleft()
        wait = max(self._paused_until - now, self._next_start - now, 0.0)
        excess = self._in_flight + len(self._answered) + min(weight, self.capacity) \
            - self.capacity
        if excess > 0:
            if excess > len(self._answered):
                return _NEVER
            wait = max(wait, self._answered[excess - 1] + self.window - now)
        return wait

    # --- bookkeeping -------------------------------------------------------------------------

    def start(self, chat_id: int, weight: int, now: float) -> None:
        """A send of ``weight`` units to ``chat_id`` goes out now."""
        self._in_flight += weight
        self._chat_busy.add(chat_id)
        # Spacing is kept on the schedule, not on when the loop got round to it: a grant that
        # came late (a busy loop) does not push every later one back. Safety never depends on
        # the spacing — the window above guarantees it — so the small catch-up is harmless.
        spacing = weight / self.per_second
        self._next_start = max(self._next_start, now - 1.0 / self.per_second) + spacing

    def finish(self, chat_id: int, weight: int, now: float) -> None:
        """The send's answer (or error, or timeout) arrived now."""
        self._in_flight = max(self._in_flight - weight, 0)
        self._answered.extend(itertools.repeat(now, weight))
        self._chat_busy.discard(chat_id)
        self._chat_free_at[chat_id] = now + self.chat_interval
        if len(self._chat_free_at) > 10_000:  # forget chats that have long been free
            self._chat_free_at = {c: t for c, t in self._chat_free_at.items() if t > now}

    def pause_chat(self, chat_id: int, until: float) -> None:
        self._chat_paused[chat_id] = max(self._chat_paused.get(chat_id, 0.0), until)

    def pause_all(self, until: float) -> None:
        self._paused_until = max(self._paused_until, until)

    def quiet_start(self, now: float) -> None:
        """Send nothing counted for one window: a process that died just before this one
        started may have sent to any chat within it, and Telegram counts those sends too."""
        self.pause_all(now + max(self.window, self.chat_interval))

    def forget_chat(self, chat_id: int, now: float) -> None:
        """Drop a chat's pause once it has passed (keeps the dict small)."""
        if self._chat_paused.get(chat_id, 0.0) <= now:
            self._chat_paused.pop(chat_id, None)


@dataclass(order=True)
class _Waiter:
    order: int
    seq: int
    chat_id: int = field(compare=False)
    weight: int = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class SendGate:
    """The asyncio side of a :class:`Pacer`; use on one event loop only."""

    def __init__(self, pacer: Pacer, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.pacer = pacer
        self.clock = clock
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._changed: asyncio.Event | None = None
        self._pump_task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def slot(self, chat_id: int, weight: int = 1, order: int = 0) -> AsyncIterator[None]:
        """Wait for a slot (lower ``order`` first), send inside the block."""
        loop = asyncio.get_running_loop()
        if self._changed is None:
            self._changed = asyncio.Event()
            self._pump_task = loop.create_task(self._pump(), name="send-gate")
        waiter = _Waiter(order, next(self._seq), chat_id, weight, loop.create_future())
        bisect.insort(self._waiters, waiter)
        self._changed.set()
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.pacer.finish(chat_id, weight, self.clock())  # granted, then cancelled
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            raise
        try:
            yield
        finally:
            self.pacer.finish(chat_id, weight, self.clock())
            self._changed.set()

    def kick(self) -> None:
        """Re-evaluate waiters now (after a pause was changed from outside)."""
        if self._changed is not None:
            self._changed.set()

    def close(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()

    async def _pump(self) -> None:
        assert self._changed is not None
        while True:
            self._changed.clear()
            now = self.clock()
            wake = self._grant(now)
            timeout = None if wake == _NEVER else max(wake - now, 0.0005)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def _grant(self, now: float) -> float:
        """Grant every waiter that may go now, oldest first; return the next time to look."""
        wake = _NEVER
        for waiter in list(self._waiters):
            if waiter.granted.done():
                self._waiters.remove(waiter)
                continue
            chat_wait = self.pacer.chat_wait(waiter.chat_id, now)
            if chat_wait > 0:
                wake = min(wake, now + chat_wait)
                continue
            global_wait = self.pacer.global_wait(waiter.weight, now)
            if global_wait > 0:
                # The oldest sendable waiter is blocked by the bot-wide limit: younger ones
                # must not overtake it (a 10-photo album would starve behind single sends).
                return min(wake, now + global_wait)
            self.pacer.start(waiter.chat_id, waiter.weight, now)
            self.pacer.forget_chat(waiter.chat_id, now)
            self._waiters.remove(waiter)
            waiter.granted.set_result(None)
            # The spacing now delays the next one: look again when it has passed.
            next_wait = self.pacer.global_wait(1, now)
            if next_wait > 0:
                return min(wake, now + next_wait) if next_wait != _NEVER else wake
        return wake
