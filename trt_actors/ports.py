"""The seams between the job actor and the outside world.

The job actor calls these interfaces; the edge implements them (the KIE client) or the
node wires them (the catalog's validator). Tests of the actor alone may plug in doubles;
integration tests plug in the real ones against the emulators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "InputValidator",
    "KiePort",
]


class KiePort(Protocol):
    """Creating KIE tasks, within KIE's createTask rate limit (the job actor postpones a
    submit when the budget is spent rather than block in the client's limiter)."""

    def create_task(
        self, family: str, model_id: str, input: Mapping[str, Any], callback_url: str | None,
    ) -> str:
        """Create one task; return KIE's task id. Raises ``KieRetryable`` (certainly not
        created), ``KieFinal`` / ``KieAuthError`` (refused), or ``KieOutcomeUnknown`` (may
        or may not exist)."""
        ...

    def create_budget(self) -> int:
        """createTask calls the rate limit allows right now (0: none until the window moves)."""
        ...

    @property
    def create_window(self) -> float:
        """Seconds of the createTask limit's window (KIE: 20 calls per 10 s)."""
        ...


class InputValidator(Protocol):
    """The catalog's validator: returns the exact input to send, or raises ``TrtError``."""

    def __call__(self, model_id: str, values: Mapping[str, Any]) -> dict[str, Any]: ...
