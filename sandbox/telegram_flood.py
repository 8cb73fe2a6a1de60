"""Flood limits as Telegram documents them, and the counters tests assert on.

Telegram's bot FAQ ("My bot is hitting limits, how do I avoid this?"): in a single chat,
avoid sending more than one message per second — short bursts over it are allowed, but
eventually 429s come; a group takes no more than 20 messages per minute; bulk notifications
no more than about 30 messages per second. So: per bot ≤ ``global_per_second`` accepted sends
in any ``flood_window``; per private chat a token bucket of ``per_chat_burst`` tokens refilling
``per_chat_per_second`` per ``flood_window`` (kept as a generic cell rate: a theoretical
arrival time per chat); per group (negative chat id) ≤ ``group_per_minute`` in any 60 s. A
send over a limit gets 429 with ``retry_after`` (whole seconds, at least 1), as Telegram does.

Only accepted sends and edits count (sendMessage, send<Media>, sendMediaGroup, sendInvoice,
editMessage*). A media group counts as one message for its chat and as one per item for the
global limit. A refused call (429, 400, 403...) does not consume a slot.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque

from sandbox.telegram_model import JSON, ApiError, EmulatorConfig

#: Methods whose accepted calls count toward the flood limits.
COUNTED_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "sendvideo",
        "sendaudio",
        "senddocument",
        "sendanimation",
        "sendvoice",
        "sendmediagroup",
        "sendinvoice",
        "editmessagetext",
        "editmessagecaption",
        "editmessagereplymarkup",
    }
)


GROUP_WINDOW = 60.0
"""Seconds over which ``group_per_minute`` is counted."""


def max_in_window(times: list[float], window: float) -> int:
    """Largest number of sorted timestamps falling in any half-open window of ``window`` s."""
    best = 0
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


class FloodLimiter:
    """Sliding-window limiter for one emulator (all bots), plus the statistics."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self.reset()

    def reset(self) -> None:
        self._global: dict[str, deque[float]] = defaultdict(deque)
        self._chat: dict[tuple[str, int], deque[float]] = defaultdict(deque)
        self._chat_tat: dict[tuple[str, int], float] = {}
        self.method_calls: Counter[str] = Counter()
        self.too_many: int = 0
        self.too_many_by_chat: Counter[int] = Counter()
        self.max_global_rate: int = 0

    def _trim(self, times: deque[float], now: float, window: float) -> None:
        while times and now - times[0] >= window:
            times.popleft()

    def _chat_bucket(self) -> tuple[float, float]:
        """(seconds per token, tolerance) of a private chat's bucket."""
        interval = self._config.flood_window / self._config.per_chat_per_second
        return interval, (max(self._config.per_chat_burst, 1) - 1) * interval

    def check(self, token: str, chat_id: int, now: float, weight: int = 1) -> None:
        """Raise a 429 ApiError (and record it) if one more send would exceed a limit."""
        if not self._config.flood_limits:
            return
        window = self._config.flood_window
        wait = 0.0
        if chat_id < 0:  # a group: a plain window of a minute
            chat_times = self._chat[(token, chat_id)]
            self._trim(chat_times, now, GROUP_WINDOW)
            if len(chat_times) >= self._config.group_per_minute:
                wait = chat_times[0] + GROUP_WINDOW - now
        else:
            _, tolerance = self._chat_bucket()
            tat = self._chat_tat.get((token, chat_id), now)
            wait = tat - tolerance - now
        glob = self._global[token]
        self._trim(glob, now, window)
        if len(glob) + weight > self._config.global_per_second:
            index = min(len(glob) - 1, len(glob) + weight - 1 - self._config.global_per_second)
            wait = max(wait, glob[max(index, 0)] + window - now)
        if wait > 0:
            self.too_many += 1
            self.too_many_by_chat[chat_id] += 1
            retry = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)

    def record(self, token: str, chat_id: int, now: float, weight: int = 1) -> None:
        """Count an accepted send/edit (always, even with limits off, for the stats)."""
        if chat_id < 0:
            chat_times = self._chat[(token, chat_id)]
            chat_times.append(now)
            self._trim(chat_times, now, GROUP_WINDOW)
        else:
            interval, _ = self._chat_bucket()
            key = (token, chat_id)
            self._chat_tat[key] = max(self._chat_tat.get(key, now), now) + interval
            if len(self._chat_tat) > 100_000:  # forget buckets that are full again
                self._chat_tat = {k: t for k, t in self._chat_tat.items() if t > now}
        glob = self._global[token]
        for _ in range(weight):
            glob.append(now)
        self._trim(glob, now, self._config.flood_window)
        # The trimmed deque holds exactly the sends of the last window: that is the rate.
        self.max_global_rate = max(self.max_global_rate, len(glob))

    def record_refusal(self, chat_id: int | None) -> None:
        """Count a 429 given by fault injection (not by the limiter itself)."""
        self.too_many += 1
        if chat_id is not None:
            self.too_many_by_chat[chat_id] += 1

    def snapshot(self) -> JSON:
        return {
            "method_calls": dict(self.method_calls),
            "too_many_requests": self.too_many,
            "too_many_requests_by_chat": {str(k): v for k, v in self.too_many_by_chat.items()},
            "max_global_rate": self.max_global_rate,
        }
