"""Status views the gateway actors publish, so /status reads them without their mailboxes.

A busy actor (a poller sweep, a delivery claim waiting on the database) must not hold up
/status, and the status server must not reach into pykka for the actor object. So each
gateway actor publishes, when it is built, a view: a function reading only state the actor
keeps thread-safe (counters under a lock, values its threads replace whole). The node owns
one :class:`Published` per child and hands it to every incarnation; a restarted actor
publishes its own view over the last one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Published", "View"]

View = Callable[[], dict[str, Any]]
"""Returns the actor's status section; must be safe to call from any thread, at any time."""


class Published:
    """One actor's status view: set by the actor, read from any thread without a lock (each
    side touches one attribute, and swapping a reference is atomic)."""

    def __init__(self) -> None:
        self._view: View | None = None

    def publish(self, view: View) -> None:
        """Make ``view`` the one :meth:`read` calls (the actor's constructor calls this)."""
        self._view = view

    def read(self) -> dict[str, Any] | None:
        """A fresh copy of the published view, or ``None`` when nothing was published yet."""
        view = self._view
        return None if view is None else dict(view())
