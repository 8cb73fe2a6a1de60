"""The supervision package's exceptions: one root, leaves that carry data.

Each class's docstring is its default message. ``supervision`` is infrastructure (like pykka),
so it does not import the product's ``TrtError``; callers that need one root can catch
:class:`SupervisionError` next to it.
"""

from __future__ import annotations

from pykka import ActorDeadError


class SupervisionError(Exception):
    """Supervision error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class RestartIntensityExceeded(SupervisionError):
    """A supervisor spent its restart budget and gave up."""

    def __init__(self, supervisor_id: str, child_id: str, intensity: int, period: float) -> None:
        self.supervisor_id = supervisor_id
        self.child_id = child_id
        self.intensity = intensity
        self.period = period
        super().__init__(
            f"supervisor {supervisor_id!r}: child {child_id!r} needed more than "
            f"{intensity} restarts in {period:g}s"
        )


class DuplicateChild(SupervisionError):
    """A child with this id is already supervised."""

    def __init__(self, child_id: str) -> None:
        self.child_id = child_id
        super().__init__(f"a child with id {child_id!r} is already supervised")


class UnknownChild(SupervisionError):
    """No child with this id is supervised."""

    def __init__(self, child_id: str) -> None:
        self.child_id = child_id
        super().__init__(f"no child with id {child_id!r} is supervised")


class NotLinked(SupervisionError):
    """A child factory did not return the SupervisedActor it started."""

    def __init__(self, child_id: str) -> None:
        self.child_id = child_id
        super().__init__(
            f"the factory of child {child_id!r} must start and return a SupervisedActor "
            "(a plain pykka actor cannot report its death)"
        )


class ActorCrashed(ActorDeadError):
    """The actor died while handling this message.

    Raised to an ``ask()`` caller when the handler let a ``BaseException`` (``SystemExit``,
    ``KeyboardInterrupt``...) escape: the actor is dead, not merely the request. It is an
    :class:`pykka.ActorDeadError`, so callers that already handle dead actors handle this too.
    The original exception is the ``__cause__``.
    """

    def __init__(self, actor: str, reason: BaseException) -> None:
        self.actor = actor
        self.reason = reason
        super().__init__(f"{actor} crashed: {type(reason).__name__}: {reason}")
