"""A thread-safe sliding-window rate limiter for calls to KIE.

KIE states its limits as "N calls per T seconds" (createTask: 20 per 10 s; status queries:
10 per second) and rejects the excess with 429 without queueing it. A token bucket would allow
a burst of N right after a full window of N, i.e. up to 2N in some T-second window; a sliding
window of the last N acquisition times never allows more than N in *any* window of T seconds,
which is the only reading of KIE's rule that is safe whatever KIE actually implements.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """At most ``rate`` acquisitions in any window of ``per`` seconds.

    ``clock`` measures the window (inject a fake one in tests). ``acquire`` waits in real time
    on a condition variable; the deadline and the window are both measured with ``clock``, so
    with the default ``time.monotonic`` they agree.
    """

    def __init__(
        self, rate: float, per: float, *, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(rate) and rate >= 1):
            raise ValueError(f"rate must be >= 1, got {rate!r}")
        if not (math.isfinite(per) and per > 0):
            raise ValueError(f"per must be > 0, got {per!r}")
        # A fractional rate cannot be honoured by a window of whole calls: round down (safer).
        self.capacity = int(rate)
        self.per = float(per)
        self._clock = clock
        self._taken: deque[float] = deque()
        self._cond = threading.Condition()
        self.share: Callable[[], float] = lambda: 1.0
        """This worker's part of the node-wide limit (workers on one KIE key share it:
        ``Leases.share``); the window then holds ``floor(capacity * share)`` calls."""

    def _capacity(self) -> int:
        share = self.share()
        return self.capacity if share >= 1.0 else math.floor(self.capacity * share)

    def __repr__(self) -> str:
        return f"RateLimiter({self.capacity}, {self.per})"

    # --- internals (call with the lock held) ---------------------------------------------------

    def _prune(self, now: float) -> None:
        while self._taken and self._taken[0] <= now - self.per:
            self._taken.popleft()

    def _wait_locked(self, now: float) -> float:
        self._prune(now)
        capacity = self._capacity()
        if capacity < 1:
            return min(self.per, 0.25)  # no share yet: look again soon
        if len(self._taken) < capacity:
            return 0.0
        if len(self._taken) > capacity:  # the share shrank: wait for the surplus to leave
            return max(self._taken[len(self._taken) - capacity] + self.per - now, 0.0)
        # The oldest acquisition leaves the window at taken[0] + per.
        return max(self._taken[0] + self.per - now, 0.0)

    def _try_locked(self) -> float:
        now = self._clock()
        wait = self._wait_locked(now)
        if wait == 0.0:
            self._taken.append(now)
        return wait

    # --- public -------------------------------------------------------------------------------

    def try_acquire(self) -> float:
        """Take a token if one is free: 0.0 if taken, else seconds until one will be free."""
        with self._cond:
            return self._try_locked()

    def acquire(self, timeout: float) -> bool:
        """Take a token, waiting at most ``timeout`` seconds; False if none became free."""
        timeout = max(timeout, 0.0)
        # A frozen fake clock must not make this wait forever: bound the real time as well.
        real_deadline = time.monotonic() + timeout
        with self._cond:
            deadline = self._clock() + timeout
            while True:
                wait = self._try_locked()
                if wait == 0.0:
                    return True
                remaining = deadline - self._clock()
                if remaining <= 0 or wait > remaining or time.monotonic() >= real_deadline:
                    # The next token comes after the deadline: waiting would be wasted time.
                    return False
                # Wakes early on notify (none today) or after ``wait``; the loop re-checks, so
                # another thread taking the freed token first is handled.
                self._cond.wait(wait)

    def wait_time(self) -> float:
        """Seconds until a token is free (0.0 if one is free now); takes nothing."""
        with self._cond:
            return self._wait_locked(self._clock())

    def headroom(self) -> int:
        """Tokens that could be taken right now (for /status)."""
        with self._cond:
            self._prune(self._clock())
            return max(self._capacity() - len(self._taken), 0)
