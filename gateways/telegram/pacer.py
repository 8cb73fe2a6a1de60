"""Pacing of Telegram sends: ≤ N messages/s per bot, per chat a token bucket, no 429 at all.

Telegram's limits (core.telegram.org/bots/faq, "My bot is hitting limits, how do I avoid
this?"): in a single chat, avoid more than one message per second — short bursts over it are
allowed, but eventually 429s come; no more than 20 messages per minute to one group; about 30
messages per second bot-wide for bulk notifications. python-telegram-bot's ``AIORateLimiter``
uses the same figures (30/s overall, 20/min per group). So a private chat gets a token bucket:
``chat_burst`` sends at once, then one per ``1 / per_chat_per_second``; a group (negative
chat id) one per 3 s (20/min); and the bot ``per_second`` overall.

Telegram (and the emulator) count a send at the moment *they* accept it, somewhere between
our request going out and its answer coming back. A limiter that counts launch times can
therefore be fooled by network jitter (two sends launched 1.0 s apart may arrive 0.99 s
apart). This one counts every send as occupying its slot **until its answer arrived**, plus
the window: a send in flight is counted as "now", a finished one until ``answered + window``.
Per chat the bucket is kept as a generic cell rate (GCRA): its theoretical arrival time moves
on from the *answer* of each send, an upper bound of what the server computed from its
acceptance time, so whatever the latency the server's bucket is never emptier than ours.
The price is one round-trip time per window (measured: 97 % of 30 msg/s against the local
emulator), not a guessed safety margin.

On top, launches are spaced ``weight / per_second`` apart, so a backlog is sent as a steady
stream rather than bursts of 30 at the top of every second.

:class:`Pacer` is the arithmetic (single-threaded, clock passed in: unit-testable);
:class:`SendGate` is its asyncio face: ``async with gate.slot(chat, weight, order, priority)``
waits for a slot — the most urgent priority class first, oldest ``order`` first within it;
every other slot goes to a waiter older than ``starve_after`` seconds, if any, so nothing
starves — and records the answer time on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

__all__ = ["Pacer", "SendGate"]

_NEVER = math.inf


GROUP_PER_MINUTE = 20
"""Telegram's limit for one group (negative chat ids): 20 messages per minute."""


class Pacer:
    """Slots for sends; all times are ``clock()`` seconds, passed in by the caller."""

    def __init__(self, per_second: float = 30.0, per_chat_per_second: float = 1.0, *,
                 chat_burst: int = 1, margin: float = 0.005) -> None:
        if per_second <= 0 or per_chat_per_second <= 0:
            raise ValueError("rates must be positive")
        if chat_burst < 1:
            raise ValueError("the per-chat burst must be at least 1")
        self.per_second = per_second
        self.capacity = max(1, math.floor(per_second))
        # ``capacity`` sends per window; the window grows with the rounding so the rate holds.
        self.window = self.capacity / per_second + margin
        self.chat_interval = 1.0 / per_chat_per_second + margin
        self.chat_burst = chat_burst
        self.group_interval = 60.0 / GROUP_PER_MINUTE + margin
        self._answered: deque[float] = deque()  # answer times of finished sends, one per unit
        self._in_flight = 0  # units launched and not answered yet
        self._next_start = 0.0
        self._chat_tat: dict[int, float] = {}  # per chat: the bucket's theoretical arrival time
        self._fresh_tat = 0.0  # ... of a chat not seen in this run
        self._chat_busy: set[int] = set()
        self._paused_until = 0.0
        self._chat_paused: dict[int, float] = {}
        self.share: Callable[[], float] = lambda: 1.0
        """This worker's part of the bot-wide limit (several workers on one token share it;
        ``Leases.share``). 0 while a worker that just joined waits out the others' window."""

    def _bucket(self, chat_id: int) -> tuple[float, int]:
        """(seconds per token, burst) of a chat: groups 20/min without a burst."""
        if chat_id < 0:
            return self.group_interval, 1
        return self.chat_interval, self.chat_burst

    # --- questions ---------------------------------------------------------------------------

    def chat_wait(self, chat_id: int, now: float) -> float:
        """Seconds until ``chat_id`` may get its next send (``inf``: one is in flight)."""
        if chat_id in self._chat_busy:
            return _NEVER
        interval, burst = self._bucket(chat_id)
        tat = self._chat_tat.get(chat_id, self._fresh_tat)
        free = max(tat - (burst - 1) * interval, self._chat_paused.get(chat_id, 0.0))
        return max(free - now, 0.0)

    def global_wait(self, weight: int, now: float) -> float:
        """Seconds until a send of ``weight`` units fits the bot-wide limit (``inf``: only
        an answer to a send in flight can make room)."""
        while self._answered and self._answered[0] + self.window <= now:
            self._answered.popleft()
        wait = max(self._paused_until - now, self._next_start - now, 0.0)
        capacity = self.capacity if (share := self.share()) >= 1.0 \
            else math.floor(self.capacity * share)
        if capacity < 1:
            return max(wait, 0.25)  # no share yet: look again soon
        excess = self._in_flight + len(self._answered) + min(weight, capacity) - capacity
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
        rate = self.per_second * min(max(self.share(), 0.01), 1.0)
        self._next_start = max(self._next_start, now - 1.0 / rate) + weight / rate

    def finish(self, chat_id: int, weight: int, now: float) -> None:
        """The send's answer (or error, or timeout) arrived now: it took one token of the
        chat's bucket (a media group counts as one message for its chat)."""
        self._in_flight = max(self._in_flight - weight, 0)
        self._answered.extend(itertools.repeat(now, weight))
        self._chat_busy.discard(chat_id)
        interval, _ = self._bucket(chat_id)
        tat = self._chat_tat.get(chat_id, self._fresh_tat)
        self._chat_tat[chat_id] = max(tat, now) + interval
        if len(self._chat_tat) > 10_000:  # forget chats whose bucket is full again
            self._chat_tat = {c: t for c, t in self._chat_tat.items() if t > now}

    def pause_chat(self, chat_id: int, until: float) -> None:
        self._chat_paused[chat_id] = max(self._chat_paused.get(chat_id, 0.0), until)

    def pause_all(self, until: float) -> None:
        self._paused_until = max(self._paused_until, until)

    def quiet_start(self, now: float) -> None:
        """Send nothing counted for one window, and start every chat's bucket empty: a
        process that died just before this one started may have sent to any chat within it
        (its whole burst), and Telegram counts those sends too."""
        self.pause_all(now + max(self.window, self.chat_interval))
        self._fresh_tat = now + self.chat_burst * self.chat_interval

    def forget_chat(self, chat_id: int, now: float) -> None:
        """Drop a chat's pause once it has passed (keeps the dict small)."""
        if self._chat_paused.get(chat_id, 0.0) <= now:
            self._chat_paused.pop(chat_id, None)


@dataclass(slots=True)
class _Waiter:
    priority: int
    order: int
    seq: int
    since: float
    chat_id: int
    weight: int
    granted: asyncio.Future[None]


class SendGate:
    """The asyncio side of a :class:`Pacer`; use on one event loop only.

    Priority classes are small integers, lower first (delivery's: answers to what a user just
    did, results, progress edits, broadcasts). Once a waiter has waited ``starve_after``
    seconds, every other slot goes to such a starved waiter (oldest first) whatever its
    class: none starves, and the most urgent class still gets at least half the slots.
    """

    def __init__(self, pacer: Pacer, *, clock: Callable[[], float] = time.monotonic,
                 starve_after: float = 5.0) -> None:
        self.pacer = pacer
        self.clock = clock
        self.starve_after = starve_after
        self._boosted_last = False  # the last grant went to a starved waiter out of turn
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._changed: asyncio.Event | None = None
        self._pump_task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def slot(self, chat_id: int, weight: int = 1, order: int = 0,
                   priority: int = 0) -> AsyncIterator[None]:
        """Wait for a slot (lower ``priority``, then lower ``order`` first), send inside the
        block."""
        loop = asyncio.get_running_loop()
        if self._changed is None:
            self._changed = asyncio.Event()
            self._pump_task = loop.create_task(self._pump(), name="send-gate")
        waiter = _Waiter(priority, order, next(self._seq), self.clock(), chat_id, weight,
                         loop.create_future())
        self._waiters.append(waiter)
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

    def _queue(self, now: float) -> list[_Waiter]:
        """The waiters in the order they may go: by class, then oldest first — except that
        every other grant goes to a starved waiter (oldest first) when there is one. So a
        starved class gets at least half the slots, and an answer waits at most one slot
        more for it."""
        starved = now - self.starve_after if not self._boosted_last else -_NEVER

        def key(w: _Waiter) -> tuple[int, int, int]:
            return (-1 if w.since <= starved else w.priority, w.order, w.seq)

        return sorted(self._waiters, key=key)

    def _grant(self, now: float) -> float:
        """Grant every waiter that may go now, most urgent first; return the next time to
        look."""
        wake = _NEVER
        while self._waiters:
            for waiter in self._queue(now):
                if waiter.granted.done():
                    self._waiters.remove(waiter)
                    break
                chat_wait = self.pacer.chat_wait(waiter.chat_id, now)
                if chat_wait > 0:
                    wake = min(wake, now + chat_wait)
                    continue
                global_wait = self.pacer.global_wait(waiter.weight, now)
                if global_wait > 0:
                    # The most urgent sendable waiter is blocked by the bot-wide limit: later
                    # ones must not overtake it (a 10-photo album would starve behind single
                    # sends; a button's answer must not wait behind a result that slipped in).
                    return min(wake, now + global_wait)
                self._boosted_last = not self._boosted_last \
                    and waiter.since <= now - self.starve_after
                self.pacer.start(waiter.chat_id, waiter.weight, now)
                self.pacer.forget_chat(waiter.chat_id, now)
                self._waiters.remove(waiter)
                waiter.granted.set_result(None)
                # The spacing now delays the next one: look again when it has passed.
                next_wait = self.pacer.global_wait(1, now)
                if next_wait > 0:
                    return min(wake, now + next_wait) if next_wait != _NEVER else wake
                break  # a late loop catches up: the order may have changed, look again
            else:
                return wake
        return wake
