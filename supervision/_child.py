"""The supervisor's record of one child, and its snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pykka import ActorRef

from supervision._spec import ChildSpec, ChildState

if TYPE_CHECKING:
    from supervision._actor import SupervisedActor

# Exception messages are the raiser's to keep secret-free; this only bounds the size.
_MAX_REASON = 300


def describe(reason: BaseException) -> str:
    """One line naming an exception: ``"ValueError: boom"``."""
    message = str(reason)
    text = f"{type(reason).__name__}: {message}" if message else type(reason).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def iso(wall: float | None) -> str | None:
    """A ``time.time()`` value as ISO 8601 in UTC, or ``None``."""
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class Child:
    """Mutable state of one supervised child; written by the supervisor's thread only,
    under the supervisor's lock, so that ``snapshot()`` may read it from any thread."""

    spec: ChildSpec
    state: ChildState = ChildState.STOPPED
    ref: ActorRef[Any] | None = None
    """The running incarnation, ``None`` when not running."""
    actor: SupervisedActor | None = None
    """The latest incarnation (kept after it dies, for nested snapshots)."""
    restarts: int = 0
    consecutive: int = 0
    """Restarts since the child last ran for a whole intensity period; drives the backoff."""
    started_at: float = 0.0
    """Supervisor clock reading at the latest start."""
    last_failure_at: float | None = None
    last_failure: str | None = None
    next_restart_at: float | None = None
    pending: int | None = None
    """Token of the scheduled restart this child waits for."""

    def snapshot(self) -> dict[str, Any]:
        """A plain-dict view of this record (the supervisor nests child supervisors)."""
        failure = None
        if self.last_failure is not None:
            failure = {"time": iso(self.last_failure_at), "reason": self.last_failure}
        return {
            "id": self.spec.id,
            "restart": self.spec.restart.value,
            "state": self.state.value,
            "restarts": self.restarts,
            "last_failure": failure,
            "next_restart": iso(self.next_restart_at),
        }
