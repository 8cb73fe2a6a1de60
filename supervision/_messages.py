"""Messages understood by a supervisor's actor: small immutable values."""

from __future__ import annotations

from dataclasses import dataclass

from supervision._spec import ChildSpec


@dataclass(frozen=True, slots=True)
class ChildExited:
    """A child's actor has stopped (told from the child's own thread)."""

    child_id: str
    """The spec id of the child."""

    actor_urn: str
    """Which incarnation exited; an exit of an older incarnation is ignored."""

    reason: BaseException | None
    """``None`` for a normal stop, else the exception that killed it."""


@dataclass(frozen=True, slots=True)
class RestartDue:
    """The backoff before a scheduled restart has elapsed (told by the timer)."""

    token: int
    """Which scheduling this is; children rescheduled since then carry a newer token."""


@dataclass(frozen=True, slots=True)
class StartChild:
    """Add a dynamic child and start it now (asked; replies with its ref)."""

    spec: ChildSpec
    """The new child; its id must not be running or restarting."""


@dataclass(frozen=True, slots=True)
class TerminateChild:
    """Stop a child and forget it (asked; replies ``None``)."""

    child_id: str
    """The child to stop."""
