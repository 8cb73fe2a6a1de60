"""The one retry helper: backoff with jitter, the decision after a failure, Retry-After.

Every loop of the node that calls the network again after a failure (Telegram polling and
delivery, the job's createTask, the KIE client) computes its wait here, as
python-telegram-bot's network loop does, by error class:

* the server said how long (HTTP ``Retry-After``, Telegram's ``RetryAfter``) → **wait** that;
* a transient failure (timeout, connection, 5xx) → **back off**: ``base`` doubling up to
  ``cap``, times a random factor so that callers failing together do not come back together;
* a permanent failure, the attempts spent, or a wait too long to sleep through → **stop**.

Which exception is which class stays with each gateway (the core knows no HTTP library);
the numbers stay with each loop's settings. :func:`retry_after_seconds` is the only place a
Retry-After value (header text, number, ``timedelta``) becomes seconds.

``supervision`` has its own restart backoff: it imports nothing of ours, by contract.
"""

from __future__ import annotations

import enum
import math
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime

__all__ = ["Action", "Backoff", "Decision", "RetryPolicy", "retry_after_seconds"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry number ``attempt`` (1 for the first) after a transient failure.

    ``delay(n) = min(cap, base * factor ** (n - 1)) * uniform(*jitter)``: ``jitter=(1, 1)`` is
    none, ``(0, 1)`` is "full jitter", ``(0.8, 1.2)`` spreads ±20 % around the value.
    """

    base: float
    """Delay before the first retry, seconds."""
    cap: float
    """Largest delay before jitter, seconds."""
    factor: float = 2.0
    """Growth per consecutive failure."""
    jitter: tuple[float, float] = (1.0, 1.0)
    """Bounds of the random factor the delay is multiplied by."""

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.factor < 1:
            raise ValueError("backoff needs base >= 0, cap >= 0 and factor >= 1")
        low, high = self.jitter
        if not 0.0 <= low <= high:
            raise ValueError("backoff jitter needs 0 <= low <= high")

    def ceiling(self, attempt: int) -> float:
        """The delay before jitter: ``min(cap, base * factor ** (attempt - 1))``."""
        try:
            return min(self.cap, self.base * float(self.factor) ** max(attempt - 1, 0))
        except OverflowError:  # a very long run of failures: the cap was reached long ago
            return self.cap

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt``; ``rng`` defaults to ``random``."""
        low, high = self.jitter
        ceiling = self.ceiling(attempt)
        if low == high:
            return ceiling * low
        return ceiling * (rng or random).uniform(low, high)


class Action(enum.Enum):
    """What to do after a failed call."""

    WAIT = "wait"          # the server said how long: wait that, then the same call again
    BACKOFF = "backoff"    # transient: wait the backoff, then the same call again
    STOP = "stop"          # give up (the caller reports, fails or schedules it)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay: float = 0.0
    """Seconds to wait before the next call (for STOP: the server's wait, if it gave one)."""

    @property
    def retry(self) -> bool:
        return self.action is not Action.STOP


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A loop's retry rules: its :class:`Backoff`, how many calls, how long it may wait."""

    backoff: Backoff
    max_attempts: int | None = None
    """Calls in all, the first included; None: never stop for the count."""
    max_wait: float | None = None
    """A server's wait longer than this stops the loop: the caller schedules it instead of
    blocking a thread on it. None: any wait is waited out."""

    def decide(self, attempt: int, *, retry_after: float | None = None,
               retryable: bool = True, rng: random.Random | None = None) -> Decision:
        """After call number ``attempt`` failed: stop, wait ``retry_after``, or back off.

        ``retryable=False`` is a permanent failure. ``retry_after`` (seconds, from
        :func:`retry_after_seconds`) wins over the backoff whenever it is given, 0 included.
        """
        if not retryable or (self.max_attempts is not None and attempt >= self.max_attempts):
            return Decision(Action.STOP, retry_after or 0.0)
        if retry_after is not None:
            if self.max_wait is not None and retry_after > self.max_wait:
                return Decision(Action.STOP, retry_after)
            return Decision(Action.WAIT, retry_after)
        return Decision(Action.BACKOFF, self.backoff.delay(attempt, rng))


def retry_after_seconds(value: object, *, limit: float | None = None) -> float | None:
    """A Retry-After value as seconds from now, at least 0 and at most ``limit``.

    Accepts an HTTP header's text (delta-seconds, fractions allowed, or an HTTP date), a
    number, or a ``datetime.timedelta`` (python-telegram-bot 22's ``RetryAfter``). None when
    absent, malformed or not finite.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
    else:
        return None
    if not math.isfinite(seconds):
        return None
    seconds = max(seconds, 0.0)
    return seconds if limit is None else min(seconds, limit)
