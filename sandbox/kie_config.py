"""Run-time settings of the KIE emulator and its sliding-window rate limiter.

Every field of :class:`EmulatorConfig` can be changed while the emulator runs, through
``KieEmulator.configure(...)`` or ``POST /_control/config`` (same JSON field names). Updates
are partial: fields not named keep their value. Unknown names are refused so a typo in a test
fails loudly instead of silently testing nothing.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass
class EmulatorConfig:
    """Settings; see the ``kie_emulator`` module docstring for the meaning of each field."""

    duration_s: float = 0.5
    model_durations: dict[str, float] = dataclasses.field(default_factory=dict)
    rate_limits: bool = True
    create_limit: int = 20
    create_window_s: float = 10.0
    status_limit: int = 10
    status_window_s: float = 1.0
    credits: float = 10000.0
    credit_cost: float = 0.0
    results_per_task: int = 1
    large_result_mb: float = 0.0
    callback_timeout_s: float = 15.0
    callback_retries: int = 0
    callback_retry_delay_s: float = 1.0
    errors_in_http_200: bool = False
    message_key: str = "msg"
    public_url: str | None = None
    known_models: list[str] | None = None
    upload_ttl_s: float = 86400.0
    upload_limit_mb: float = 100.0

    def duration_for(self, model: str) -> float:
        """The task duration for ``model``: its own entry, else the global default."""
        return float(self.model_durations.get(model, self.duration_s))

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial update; raises ValueError for unknown names or bad types."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ValueError(f"unknown config fields: {unknown}")
        staged = dataclasses.replace(self)
        for name, value in changes.items():
            setattr(staged, name, _coerce(name, getattr(self, name), value))
        if staged.message_key not in ("msg", "message"):
            raise ValueError("message_key must be 'msg' or 'message'")
        for f in fields:
            setattr(self, f, getattr(staged, f))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return dataclasses.asdict(self)


def _coerce(name: str, current: Any, value: Any) -> Any:
    # Types follow the defaults; None is allowed only where the default may be None.
    if name in ("public_url",):
        return None if value is None else str(value)
    if name == "known_models":
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("known_models must be a list of strings or null")
        return list(value)
    if name == "model_durations":
        if not isinstance(value, dict):
            raise ValueError("model_durations must be an object of model id -> seconds")
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be an integer")
        return int(value)
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


class SlidingWindow:
    """At most ``limit`` accepted events per ``window`` seconds; rejected events don't count."""

    def __init__(self) -> None:
        self._stamps: deque[float] = deque()

    def admit(self, now: float, limit: int, window: float) -> bool:
        """Record an event at ``now`` and return True, or return False when over the limit."""
        horizon = now - window
        stamps = self._stamps
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        if len(stamps) >= limit:
            return False
        stamps.append(now)
        return True

    def retry_after(self, now: float, window: float) -> float:
        """Seconds until the oldest accepted event leaves the window."""
        if not self._stamps:
            return 0.0
        return max(self._stamps[0] + window - now, 0.0)

    def clear(self) -> None:
        """Forget every event."""
        self._stamps.clear()
