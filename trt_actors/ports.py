"""The seams between the job actor and the outside world.

The job actor calls these interfaces; the edge implements them (the KIE client) or the
node wires them (the catalog's validator). Tests of the actor alone may plug in doubles;
integration tests plug in the real ones against the emulators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class KiePort(Protocol):
    """Creating KIE tasks. Raises ``KieRetryable`` (certainly not created), ``KieFinal`` /
    ``KieAuthError`` (refused), or ``KieOutcomeUnknown`` (may or may not exist)."""

    def create_task(
        self, family: str, model_id: str, input: Mapping[str, Any], callback_url: str | None,
    ) -> str: ...


class InputValidator(Protocol):
    """The catalog's validator: returns the exact input to send, or raises ``TrtError``."""

    def __call__(self, model_id: str, values: Mapping[str, Any]) -> dict[str, Any]: ...
