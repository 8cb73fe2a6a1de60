"""Callback abuse limits: what a rejected callback keeps, and refusing a forging source.

A forged callback (403) is stored as a small record, never its body: ``record_of`` keeps the
sha256 digest, the size and the first KB (with the source address, the reason and the time,
which the insert adds). A source address that keeps forging is refused with 429 for a while
before anything touches the database (``SourceLimiter``).

KIE's own callbacks must never be refused because of someone else's forgeries:

* counting is per source address (an IPv6 address counts with its /64: one host holds a
  whole /64), and only forged callbacks count;
* a source that delivered an authenticated callback within ``trust_s`` is never refused
  (KIE's addresses are shared by all its customers, and behind a reverse proxy every callback
  has the proxy's address: a forger there must not silence KIE);
* with ``TRT_KIE_HMAC_KEY`` set, a callback with a valid signature is checked before the
  refusal (no database needed) and is never refused.

Memory is bounded: at most ``max_sources`` addresses are tracked in each table; the least
recently seen is forgotten first.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("trt.callbacks")

HEAD_BYTES = 1024
"""How much of a rejected body is kept: enough to see what it was."""


@dataclass(frozen=True, slots=True)
class BodyRecord:
    """What is stored of a body: ``body`` is all of it or only its head."""

    body: bytes
    size: int
    sha256: str


def record_of(body: bytes, *, whole: bool) -> BodyRecord:
    """The body to store (``whole`` or its first ``HEAD_BYTES``), its size and digest."""
    return BodyRecord(body if whole else body[:HEAD_BYTES], len(body),
                      hashlib.sha256(body).hexdigest())


def source_key(address: str | None) -> str:
    """The key a sender is counted by: its IPv4 address, or its IPv6 /64."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class AbusePolicy:
    """When a source is refused (``TRT_CALLBACK_FORGED_LIMIT`` and friends)."""

    forged_limit: int = 20
    """Forged callbacks from one source within ``window_s`` that get it refused."""
    window_s: float = 60.0
    block_s: float = 300.0
    """How long a source is refused (0: never refuse)."""
    trust_s: float = 24 * 3600.0
    """A source that sent an authenticated callback this recently is never refused."""
    max_sources: int = 10_000
    """Addresses tracked at most, per table (forging, refused, trusted)."""


class SourceLimiter:
    """Per-source counting of forged callbacks. Called on the gateway's loop; ``snapshot``
    from any thread (hence the lock; every call is a few dictionary operations)."""

    def __init__(self, policy: AbusePolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or AbusePolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._forged: OrderedDict[str, deque[float]] = OrderedDict()
        self._refused: OrderedDict[str, float] = OrderedDict()  # source -> refused until
        self._trusted: OrderedDict[str, float] = OrderedDict()  # source -> last authentic
        self.refusals = 0
        """Sources refused so far (each time one starts being refused)."""

    def refused(self, source: str) -> float | None:
        """Seconds this source is still refused for, or None when it may be heard."""
        with self._lock:
            until = self._refused.get(source)
            if until is None:
                return None
            left = until - self._clock()
            if left <= 0:
                del self._refused[source]
                return None
            return left

    def forged(self, source: str) -> bool:
        """Count a forged callback from ``source``; True when it is refused from now on."""
        p = self.policy
        with self._lock:
            now = self._clock()
            if p.block_s <= 0 or self._is_trusted(source, now):
                return False
            times = self._forged.pop(source, None) or deque(maxlen=p.forged_limit)
            while times and times[0] <= now - p.window_s:
                times.popleft()
            times.append(now)
            if len(times) < p.forged_limit:
                self._forged[source] = times
                _bound(self._forged, p.max_sources)
                return False
            self._refused[source] = now + p.block_s
            self._refused.move_to_end(source)
            _bound(self._refused, p.max_sources)
            self.refusals += 1
        log.warning("callback source %s refused for %.0f s: %d forged callbacks within %.0f s",
                    source, p.block_s, p.forged_limit, p.window_s)
        return True

    def authentic(self, source: str) -> None:
        """``source`` delivered an authenticated callback: it is never refused while trusted."""
        with self._lock:
            self._trusted[source] = self._clock()
            self._trusted.move_to_end(source)
            _bound(self._trusted, self.policy.max_sources)
            self._forged.pop(source, None)
            self._refused.pop(source, None)

    def retry_after(self, left: float) -> int:
        return max(1, math.ceil(left))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            refused_now = sum(1 for until in self._refused.values() if until > now)
            return {"sources_refused": refused_now, "sources_tracked": len(self._forged),
                    "sources_trusted": len(self._trusted), "source_refusals": self.refusals}

    def _is_trusted(self, source: str, now: float) -> bool:
        seen = self._trusted.get(source)
        return seen is not None and now - seen < self.policy.trust_s


def _bound(table: OrderedDict[str, Any], most: int) -> None:
    while len(table) > most:
        table.popitem(last=False)
