"""The seams between the job actor and the outside world.

The job actor calls these interfaces; gateways implement them (the KIE client, the
outbox writer). Tests of the actor alone may plug in doubles; integration tests plug in the
real ones against the emulators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from trt_actors.jobs import Job
from trt_actors.states import Failure
from trt_actors.store import Tx


class KiePort(Protocol):
    """Creating KIE tasks. Raises ``KieRetryable`` (certainly not created), ``KieFinal`` /
    ``KieAuthError`` (refused), or ``KieOutcomeUnknown`` (may or may not exist)."""

    def create_task(
        self, family: str, model_id: str, input: Mapping[str, Any], callback_url: str | None,
    ) -> str: ...


class JobNotifier(Protocol):
    """Writes what the user should see about a job into the outbox, inside the transaction
    of the move that caused it — so a crash can never separate the two."""

    def progress(self, tx: Tx, job: Job) -> None: ...

    def result_ready(self, tx: Tx, job: Job) -> None: ...

    def failed(self, tx: Tx, job: Job, failure: Failure, detail: str | None) -> None: ...


class InputValidator(Protocol):
    """The catalog's validator: returns the exact input to send, or raises ``TrtError``."""

    def __call__(self, model_id: str, values: Mapping[str, Any]) -> dict[str, Any]: ...
