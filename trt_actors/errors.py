"""The project's exceptions: one root, leaves that carry data.

Each class's docstring is its default message. Retry loops catch exact classes.
"""

from __future__ import annotations

__all__ = [
    "CancelTooLate",
    "CatalogError",
    "ChatBlocked",
    "ConfigError",
    "ConstraintViolated",
    "DatabaseUnavailable",
    "FreeLimitReached",
    "IllegalTransition",
    "InsufficientCredits",
    "KieAuthError",
    "KieError",
    "KieFinal",
    "KieOutcomeUnknown",
    "KieRetryable",
    "NotFound",
    "StaleLease",
    "StoreError",
    "TelegramError",
    "TrtError",
    "UserLimitReached",
]


class TrtError(Exception):
    """TRT node error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


# --- configuration -------------------------------------------------------------------------


class ConfigError(TrtError):
    """The node's configuration is invalid."""


class CatalogError(TrtError):
    """The model catalog is invalid."""


# --- database ------------------------------------------------------------------------------


class StoreError(TrtError):
    """A database operation failed."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached right now; the operation may be retried."""


class IllegalTransition(StoreError):
    """A job state change that the transition table does not allow."""

    def __init__(self, job_id: int, from_: str | None, to: str) -> None:
        self.job_id, self.from_, self.to = job_id, from_, to
        super().__init__(f"job {job_id}: illegal transition {from_} -> {to}")


class StaleLease(StoreError):
    """This worker no longer holds the partition it wrote to (its lease expired or another
    worker took it): the write was refused and the new owner carries on."""


class InsufficientCredits(StoreError):
    """Not enough credits for this operation."""

    def __init__(self, user_id: int, needed: int) -> None:
        self.user_id, self.needed = user_id, needed
        super().__init__(f"user {user_id}: not enough credits for {needed}")


class FreeLimitReached(StoreError):
    """The user has used today's free generations (the daily limit of free models)."""

    def __init__(self, user_id: int, limit: int) -> None:
        self.user_id, self.limit = user_id, limit
        super().__init__(f"user {user_id}: free daily limit {limit} reached")


class UserLimitReached(StoreError):
    """The user has too many jobs in flight, or confirmed too many in the last minute."""

    def __init__(self, user_id: int, limit: int, what: str) -> None:
        self.user_id, self.limit, self.what = user_id, limit, what
        """``what``: ``in_flight`` (``TRT_MAX_JOBS_IN_FLIGHT``) or ``per_minute``
        (``TRT_CONFIRM_RATE_PER_MIN``)."""
        super().__init__(f"user {user_id}: limit of {limit} jobs {what} reached")


class NotFound(StoreError):
    """The row does not exist."""


class CancelTooLate(StoreError):
    """The job's createTask has begun (its paid KIE task is being created): too late to cancel."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id}: too late to cancel, it is being generated")


# --- KIE -----------------------------------------------------------------------------------


class KieError(TrtError):
    """KIE request failed."""

    def __init__(self, message: str | None = None, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class KieRetryable(KieError):
    """KIE is temporarily unavailable (network error, 429, 455 or 5xx); retry later."""

    def __init__(
        self, message: str | None = None, *, code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, code=code)


class KieFinal(KieError):
    """KIE refused the request (400/401/402/404/422/501/505); retrying will not help."""


class KieAuthError(KieFinal):
    """KIE rejected the API key (401) or the account is out of credits (402)."""


class KieOutcomeUnknown(KieError):
    """The request reached KIE but no answer came back (read timeout); the task may exist."""


# --- Telegram ------------------------------------------------------------------------------


class TelegramError(TrtError):
    """Telegram request failed."""


class ChatBlocked(TelegramError):
    """The user blocked the bot or the chat is gone (403)."""


class ConstraintViolated(StoreError):
    """A database constraint refused the change."""

    def __init__(self, constraint: str | None, message: str | None = None) -> None:
        self.constraint = constraint
        super().__init__(message or f"constraint {constraint} violated")
