"""One timer thread for the whole node: "tell this actor that message every N seconds".

Periodic actors (janitor, poller, delivery) do not sleep in their handlers — a sleeping
handler cannot be stopped or supervised. Instead the ticker tells them a message when it is
due; an actor that died simply stops being ticked (its replacement registers anew).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Any

import pykka

log = logging.getLogger("trt.ticker")


class Ticker:
    """A heap of due times served by one daemon thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, float, pykka.ActorRef[Any], Any, bool]] = []
        self._seq = itertools.count()
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)
        self._stopped = False
        self._thread.start()

    def every(self, interval: float, ref: pykka.ActorRef[Any], message: Any,
              *, first: float = 0.0) -> None:
        """Tell ``ref`` ``message`` every ``interval`` seconds (first after ``first``)."""
        self._push(time.monotonic() + first, interval, ref, message)

    def after(self, delay: float, ref: pykka.ActorRef[Any], message: Any) -> None:
        """Tell ``ref`` ``message`` once, after ``delay`` seconds."""
        self._push(time.monotonic() + delay, 0.0, ref, message)

    def _push(self, due: float, interval: float, ref: pykka.ActorRef[Any], message: Any) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), interval, ref, message, True))
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                if not self._heap:
                    self._cond.wait()
                    continue
                due, _, interval, ref, message, first = self._heap[0]
                if due > now:
                    self._cond.wait(due - now)
                    continue
                heapq.heappop(self._heap)
                try:
                    # Skip a repeat tick while the actor still has messages queued: a slow
                    # actor gets no backlog of ticks. The first tick always goes.
                    if first or ref.actor_inbox.empty():
                        ref.tell(message)
                except pykka.ActorDeadError:
                    continue
                if interval > 0:
                    heapq.heappush(self._heap, (max(due + interval, now), next(self._seq),
                                                interval, ref, message, False))

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)
