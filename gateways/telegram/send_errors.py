"""Telegram's refusals, read for delivery and polling, and the bot token kept out of logs.

:func:`classify` turns a failed Bot API call into what to do next (:class:`Verdict`);
:func:`maybe_sent` says whether a timed-out request may have reached Telegram;
:func:`flood_wait` reads flood control's wait. :class:`Redactor` and
:func:`redact_library_logs` keep the token out of every log line the libraries write.
"""

from __future__ import annotations

import enum
import logging
import re

import httpx
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TimedOut,
)

from trt_actors import retry_after_seconds

__all__ = ["Redactor", "Verdict", "classify", "flood_wait", "maybe_sent",
           "redact_library_logs"]

_CHAT_GONE = re.compile(r"chat not found|user is deactivated|bot was blocked|bot was kicked"
                        r"|have no rights to send|peer_id_invalid", re.IGNORECASE)


class Verdict(enum.Enum):
    """What to do after a failed call."""

    RETRY_AFTER = "retry_after"   # flood control: wait retry_after, then the same call again
    RETRY = "retry"               # timeout, network, 5xx: back off and try again
    CHAT_GONE = "chat_gone"       # blocked / chat not found: nothing more reaches this chat
    REJECTED = "rejected"         # Telegram refuses this message: retrying will not help
    FATAL = "fatal"               # the token is no longer valid: the actor must stop


def classify(exc: BaseException) -> Verdict:
    if isinstance(exc, RetryAfter):
        return Verdict.RETRY_AFTER
    if isinstance(exc, InvalidToken):
        return Verdict.FATAL
    if isinstance(exc, Forbidden) or (isinstance(exc, BadRequest) and _CHAT_GONE.search(
            exc.message)):
        return Verdict.CHAT_GONE
    if isinstance(exc, BadRequest | ChatMigrated | EndPointNotFound):
        return Verdict.REJECTED
    return Verdict.RETRY  # TimedOut, NetworkError (5xx), and anything unexpected


def maybe_sent(exc: BaseException) -> bool:
    """The whole request went out and no answer came back in time: Telegram may well have
    acted on it. Only a read timeout says so. A connect, pool or write timeout never got a
    whole request to Telegram, and a dropped connection is far more often an idle keep-alive
    connection closed under the request than a lost answer: those are sent again."""
    return isinstance(exc, TimedOut) and isinstance(exc.__cause__, httpx.ReadTimeout)


def flood_wait(exc: RetryAfter) -> float:
    """Seconds Telegram's flood control asks to wait (polling and delivery alike)."""
    # PTB 22 warns on ``retry_after`` (it will become a timedelta); read the stored value.
    value = getattr(exc, "_retry_after", None) or exc.retry_after
    return retry_after_seconds(value) or 0.0


class Redactor:
    """Removes the bot token (and its secret half, also URL-encoded) from any text."""

    def __init__(self, token: str) -> None:
        secret = token.split(":", 1)[-1]
        parts = {token, token.replace(":", "%3A"), secret} - {""}
        self._pattern = re.compile("|".join(re.escape(p) for p in sorted(parts, key=len,
                                                                           reverse=True)))

    def __call__(self, text: str) -> str:
        return self._pattern.sub("<token>", text)


class _RedactFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        return True


def redact_library_logs(redact: Redactor) -> None:
    """httpx logs every request URL at INFO and PTB its base URL at DEBUG: both hold the token."""
    for name in ("httpx", "telegram", "telegram.Bot", "telegram.request.BaseRequest",
                 "telegram.request.HTTPXRequest"):
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _RedactFilter)]:
            logger.removeFilter(old)
        logger.addFilter(_RedactFilter(redact))
