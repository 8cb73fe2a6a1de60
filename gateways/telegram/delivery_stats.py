"""The delivery actor's settings and its counters for /status (shared with its loop thread)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from gateways.telegram.send import MB


class DeliveryStats:
    """Counters for /status, shared by the actor and the loop thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queued = self.sent = self.too_many = self.failures = self.retries = 0
        self.recent: deque[float] = deque()
        self.last_error: str | None = None

    def add(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)
            if deltas.get("sent"):
                now = time.monotonic()
                self.recent.append(now)
                while self.recent and now - self.recent[0] > 10.0:
                    self.recent.popleft()

    def error(self, text: str) -> None:
        with self.lock:
            self.last_error = text

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        with self.lock:
            recent = sum(1 for t in self.recent if now - t <= 10.0)
            return {"queued": self.queued, "sent": self.sent, "sent_last_10s": recent,
                    "rate_per_s": round(recent / 10.0, 2), "too_many_requests": self.too_many,
                    "failures": self.failures, "retries": self.retries,
                    "last_error": self.last_error}


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    per_second: float = 30.0
    per_chat_per_second: float = 1.0
    chat_burst: int = 1
    """Sends that may go at once into one private chat (its token bucket; a setting)."""
    starve_after: float = 5.0
    """Seconds after which a waiting row goes before every priority class."""
    interval: float = 0.5
    batch: int = 100
    max_queued: int = 300
    per_chat_queued: int = 10
    max_attempts: int = 10
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    read_timeout: float = 20.0
    """Seconds to wait for Telegram's answer to a message, an edit, an answer."""
    media_read_timeout: float = 60.0
    """... and to a media send: fetching a big file by URL takes Telegram a while, and a
    timed-out media send is "maybe sent" (never sent again unasked), so it must be rare."""
    download_limit: int = 50 * MB
    download_timeout: float = 60.0
