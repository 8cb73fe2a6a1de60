"""Everything actors say to each other: small frozen values.

Commands are imperative (``SubmitJob``), events past tense (``TaskObserved``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class TaskState(enum.StrEnum):
    """KIE's task states, normalised across the market, Veo and Suno families."""

    PENDING = "pending"
    """Accepted, waiting or queuing."""
    RUNNING = "running"
    """Generating (Suno: text or first track ready — not final)."""
    SUCCESS = "success"
    """Finished with results."""
    FAILED = "failed"
    """Finished without results."""

    @property
    def final(self) -> bool:
        return self in (TaskState.SUCCESS, TaskState.FAILED)


class Source(enum.StrEnum):
    """Where an observation of a KIE task came from."""

    CALLBACK = "callback"
    POLL = "poll"


@dataclass(frozen=True, slots=True)
class TaskReport:
    """One normalised observation of a KIE task, from a callback or a status poll."""

    task_id: str
    """KIE's task id."""
    state: TaskState
    """Normalised state."""
    result_urls: tuple[str, ...] = ()
    """Result media URLs (success only)."""
    fail_code: str | None = None
    """KIE's failure code, as text."""
    fail_message: str | None = None
    """KIE's failure message, for the operator and (simplified) the user."""


# --- job actor -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitJob:
    """Call createTask for this job if it is due (created, or resubmission allowed)."""

    job_id: int


@dataclass(frozen=True, slots=True)
class TaskObserved:
    """KIE said something about one of this job's tasks."""

    job_id: int
    report: TaskReport
    source: Source
    inbox_id: int | None = None
    """Callback inbox row this came from (marked applied once handled)."""


@dataclass(frozen=True, slots=True)
class CheckDeadline:
    """The janitor found this job past its deadline or stuck; settle it."""

    job_id: int


@dataclass(frozen=True, slots=True)
class CancelJob:
    """The user asked to cancel a job that KIE has not got yet."""

    job_id: int


@dataclass(frozen=True, slots=True)
class DeliveryFinished:
    """The delivery actor sent (or gave up sending) this job's result."""

    job_id: int
    delivered: bool
    reason: str | None = None
    message_ids: tuple[int, ...] = field(default=())
