"""Exponential backoff with jitter between restarts, and the timer that waits it out."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Cancel = Callable[[], None]
"""Cancels a scheduled call; harmless if it already ran."""

Scheduler = Callable[[float, Callable[[], None]], Cancel]
"""``schedule(delay, fn)`` calls ``fn`` once from another thread after ``delay`` seconds."""

# 2.0 ** 1024 overflows a float; the cap is reached long before this many attempts anyway.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before the n-th consecutive restart of a child.

    ``delay(n) = min(cap, base * factor ** (n - 1))``, then scaled down by a random fraction
    of up to ``jitter``: with ``jitter=0.5`` the delay is uniform in [50 %, 100 %] of that
    value, so children that failed together do not all come back at the same instant.
    """

    base: float = 0.5
    """Delay before the first restart, seconds."""

    cap: float = 30.0
    """Largest delay, seconds."""

    factor: float = 2.0
    """Growth per consecutive restart."""

    jitter: float = 0.5
    """Fraction of the delay that is randomised, 0 (none) to 1 (full jitter)."""

    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    """Source of uniform numbers in [0, 1); tests inject a fixed one."""

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.factor < 1:
            raise ValueError("backoff needs base >= 0, cap >= 0 and factor >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("backoff jitter must be between 0 and 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number ``attempt`` (1 for the first)."""
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        raw = min(self.cap, self.base * self.factor**exponent)
        return raw * (1.0 - self.jitter * self.random())


def thread_timer(delay: float, fn: Callable[[], None]) -> Cancel:
    """Default :data:`Scheduler`: a daemon ``threading.Timer`` per scheduled restart.

    Daemon, so a restart still pending at interpreter exit never keeps the process alive.
    """
    timer = threading.Timer(delay, fn)
    timer.daemon = True
    timer.name = f"supervision-timer-{delay:.3f}s"
    timer.start()
    return timer.cancel
