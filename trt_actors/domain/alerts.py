"""Operator alerts: conditions a human must fix (KIE key refused, KIE credits gone).

While KIE refuses the account, new submissions fail fast instead of hammering KIE: a retry
storm cannot fix a missing payment. After ``cooldown`` seconds one submission is let through
as a probe; success clears the alert.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("trt.alerts")

TELEGRAM_WEBHOOK = "telegram_webhook"
"""A webhook was set on the bot while the node polls: Telegram answers every getUpdates with
409 until it is deleted (the node does not delete one it did not find at its start)."""
TELEGRAM_OTHER_POLLER = "telegram_other_poller"
"""Another process polls getUpdates with this bot token: the two take turns and each misses
updates the other took; the node keeps asking, slowly, until the other one stops."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One active alert."""

    key: str
    """What it is about, e.g. ``kie_account``."""
    message: str
    """One line for the operator."""
    since: float
    """Unix time it was raised."""


class Alerts:
    """Thread-safe set of active alerts, shown on /status."""

    def __init__(self, *, cooldown: float = 60.0, clock: Any = time.time) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, Alert] = {}
        self._probe_at: dict[str, float] = {}
        self._cooldown = cooldown
        self._clock = clock

    def raise_(self, key: str, message: str) -> None:
        with self._lock:
            now = self._clock()
            if key not in self._active:
                log.error("ALERT %s: %s", key, message)
                self._active[key] = Alert(key, message, now)
            self._probe_at[key] = now + self._cooldown

    def clear(self, key: str) -> None:
        with self._lock:
            if self._active.pop(key, None) is not None:
                log.warning("alert %s cleared", key)
            self._probe_at.pop(key, None)

    def blocking(self, key: str) -> Alert | None:
        """The alert if it should block this attempt; lets one probe through per cooldown."""
        with self._lock:
            alert = self._active.get(key)
            if alert is None:
                return None
            now = self._clock()
            if now >= self._probe_at.get(key, 0):
                self._probe_at[key] = now + self._cooldown
                return None
            return alert

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"key": a.key, "message": a.message, "since": a.since}
                    for a in self._active.values()]
