"""The job state machine: one enum, one transition table, enforced twice.

Python checks a move against ``TRANSITIONS`` before asking; PostgreSQL refuses any move that
is not in its own copy of the table (``job_transitions``, filled by the migration and checked
by a trigger), so even buggy code cannot make an illegal move. A test asserts both agree.

There are exactly two ends: ``DELIVERED`` (the hold was captured in the same transaction)
and ``FAILED`` (the hold was released in the same transaction). Why a job failed —
cancelled, timed out, KIE refused it, undeliverable — is the job's ``failure`` reason, not a
state of its own: one unsuccessful end means one rule ("every failure releases the hold")
instead of one per flavour.
"""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    """Where a confirmed job is. Mirrored by the PostgreSQL enum ``job_state``."""

    CREATED = "created"
    """Confirmed: the row and the credit hold are committed; KIE has not been asked yet."""
    SUBMITTING = "submitting"
    """A createTask attempt is recorded and may be in flight; its outcome is not known yet."""
    SUBMITTED = "submitted"
    """KIE answered with a task id; waiting for it to start."""
    RUNNING = "running"
    """KIE says the task is generating."""
    SUCCEEDED = "succeeded"
    """KIE reported results; an outbox entry to deliver them was written with this move."""
    DELIVERING = "delivering"
    """The delivery actor has started sending the results."""
    DELIVERED = "delivered"
    """Results are in the chat and the hold is captured. End."""
    FAILED = "failed"
    """Ended without a result; the hold is released. End."""

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def waiting_on_kie(self) -> bool:
        return self in (JobState.SUBMITTED, JobState.RUNNING)


TERMINAL = frozenset({JobState.DELIVERED, JobState.FAILED})

_S = JobState

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    _S.CREATED: frozenset({_S.SUBMITTING, _S.FAILED}),
    # A callback can beat the createTask answer, so SUBMITTING may jump straight to RUNNING
    # or SUCCEEDED. A resubmission stays in SUBMITTING: it is an attempt, not a move.
    _S.SUBMITTING: frozenset({_S.SUBMITTED, _S.RUNNING, _S.SUCCEEDED, _S.FAILED}),
    _S.SUBMITTED: frozenset({_S.RUNNING, _S.SUCCEEDED, _S.FAILED}),
    _S.RUNNING: frozenset({_S.SUCCEEDED, _S.FAILED}),
    _S.SUCCEEDED: frozenset({_S.DELIVERING, _S.FAILED}),
    _S.DELIVERING: frozenset({_S.DELIVERED, _S.FAILED}),
    _S.DELIVERED: frozenset(),
    _S.FAILED: frozenset(),
}


def allowed_from(to: JobState) -> frozenset[JobState]:
    """Every state from which ``to`` may be entered (for the guarded UPDATE)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if to in targets)


def can_move(from_: JobState, to: JobState) -> bool:
    return to in TRANSITIONS[from_]


class Cause(enum.StrEnum):
    """Why a job changed state; recorded with every event."""

    USER = "user"
    SUBMIT = "submit"
    CALLBACK = "callback"
    POLL = "poll"
    TIMEOUT = "timeout"
    RESTART = "restart"
    DELIVERY = "delivery"
    OPERATOR = "operator"


class Failure(enum.StrEnum):
    """Why a job ended FAILED; the user is told in plain words, the hold is released."""

    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    KIE_FAILED = "kie_failed"
    """KIE ran the task and it failed (content policy, generation error)."""
    KIE_REJECTED = "kie_rejected"
    """KIE refused the request (400/404/422/501/505)."""
    KIE_UNAVAILABLE = "kie_unavailable"
    """The operator's KIE account cannot be used (401/402): fail fast, alert the operator."""
    SUBMIT_UNKNOWN = "submit_unknown"
    """createTask outcomes stayed unknown through every allowed attempt."""
    UNDELIVERABLE = "undeliverable"
    FILE_GONE = "file_gone"
    """A file the user sent could not be uploaded again before createTask (KIE keeps uploads
    about 24 h; Telegram no longer has it, or KIE refused it)."""
    """Telegram refuses to deliver to this chat (the user blocked the bot)."""
