"""The seams between the job actor and the outside world.

The job actor calls these interfaces; the edge implements them (the KIE client) or the
node wires them (the catalog's validator). Tests of the actor alone may plug in doubles;
integration tests plug in the real ones against the emulators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from trt_actors.messages import TransferFile

__all__ = [
    "InputValidator",
    "KiePort",
    "TransferPort",
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


class TransferPort(Protocol):
    """Bringing a user's file from Telegram to KIE, off the actors' threads (the edge's
    transfer pool). The bot token is the edge's: no URL holding it ever reaches the core."""

    def start(self, request: TransferFile) -> None:
        """Begin a transfer and return at once; the result is routed to the chat actor of
        ``request.chat_id`` as ``FileTransferred`` or ``FileTransferFailed``."""
        ...

    def reupload(self, file_id: str, *, name_hint: str = "file",
                 mime_type: str | None = None, timeout: float = 60.0) -> tuple[str, float]:
        """Blocking, at most ``timeout`` seconds: upload the Telegram file ``file_id`` to KIE
        again; (url, uploaded_at). Raises ``KieRetryable`` (try later: a timeout, a 5xx) or
        ``KieFinal`` (it cannot be done: Telegram no longer has the file, KIE refuses it)."""
        ...
