"""Fault injection: make chosen Bot API calls fail like a flaky Telegram would.

A :class:`FaultSpec` matches calls by method (case-insensitive, ``"*"`` = any method), and
optionally by chat id and token. ``count`` = fail the next N matching calls then expire;
``fraction`` = fail each matching call with that probability (seeded random). Both given:
probabilistic until N failures. Neither: every matching call fails until cleared. ``after``
= let the first N matching calls through untouched first (e.g. "the second part of an album
fails": ``after=1``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from sandbox.telegram_model import JSON

FAULT_KINDS = ("error", "flood", "timeout", "drop", "slow")


@dataclass
class FaultSpec:
    """One injected fault. ``kind``:

    - ``error``: answer ``status`` (default 502) with a Telegram-shaped body; nothing happens.
    - ``flood``: answer 429 with ``parameters.retry_after`` = ``retry_after``; nothing happens.
    - ``timeout``: hold the request ``delay`` seconds, then close the connection unanswered.
    - ``drop``: close the connection at once, unanswered.
    - ``slow``: perform the call normally but answer only after ``delay`` seconds (the
      message is stored at once: a client whose read timeout is shorter sees a timeout for a
      message that reached the chat).

    For ``timeout`` and ``drop``, ``execute`` says whether the call took effect anyway (the
    nasty "sent but the answer was lost" case); for ``slow`` it always does.
    """

    method: str = "*"
    kind: str = "error"
    status: int = 502
    retry_after: int = 1
    delay: float = 30.0
    execute: bool = False
    fraction: float | None = None
    count: int | None = None
    chat_id: int | None = None
    token: str | None = None
    description: str | None = None
    after: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")

    @classmethod
    def from_json(cls, data: JSON) -> FaultSpec:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return cls(**data)

    def matches(self, token: str, method: str, chat_id: int | None) -> bool:
        if self.method != "*" and self.method.lower() != method:
            return False
        if self.token is not None and self.token != token:
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def error_description(self) -> str:
        if self.description:
            return self.description
        if self.kind == "flood":
            return f"Too Many Requests: retry after {self.retry_after}"
        return {500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}.get(
            self.status, "Internal Server Error"
        )


class FaultInjector:
    """Holds active faults; ``pick`` decides (with a seeded RNG) whether a call fails."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._specs: list[FaultSpec] = []
        self.injected = 0

    def add(self, spec: FaultSpec) -> None:
        self._specs.append(spec)

    def clear(self) -> None:
        self._specs.clear()

    def reseed(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def pick(self, token: str, method: str, chat_id: int | None) -> FaultSpec | None:
        """The fault to apply to this call, if any (first matching spec that fires)."""
        for spec in list(self._specs):
            if not spec.matches(token, method, chat_id):
                continue
            if spec.after > 0:  # this one still goes through untouched
                spec.after -= 1
                continue
            if spec.fraction is not None and self._rng.random() >= spec.fraction:
                continue
            if spec.count is not None:
                spec.count -= 1
                if spec.count <= 0:
                    self._specs.remove(spec)
            self.injected += 1
            return spec
        return None

    def snapshot(self) -> list[JSON]:
        return [asdict(s) for s in self._specs]
