"""Every message an actor of the node receives: small frozen values, grouped by receiver.

Commands are imperative (``SubmitJob``), events past tense (``TaskObserved``). Each receiver
dispatches with one visible ``match`` that logs anything it does not expect. The edge
(``gateways``) imports its actors' messages from here too; ``supervision`` keeps its own
(it is generic and imports nothing of ours). Never a bare string as a message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CancelJob",
    "CheckAlive",
    "CheckDeadline",
    "DeliveryLoopFailed",
    "FileTransferFailed",
    "FileTransferred",
    "GetCallbackStats",
    "GetUrl",
    "IntakeLoopFailed",
    "Poll",
    "Source",
    "SubmitJob",
    "Sweep",
    "TaskObserved",
    "TaskReport",
    "TaskState",
    "TransferFile",
    "UpdateReceived",
    "Wake",
]

# --- values carried by messages -------------------------------------------------------------


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
        """KIE will say nothing more about the task."""
        return self in (TaskState.SUCCESS, TaskState.FAILED)


class Source(enum.StrEnum):
    """Where an observation of a KIE task came from."""

    CALLBACK = "callback"
    """KIE called our callback URL (the body was stored in the callback inbox)."""
    POLL = "poll"
    """The status poller asked KIE (recordInfo)."""


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
    result_text: str | None = None
    """A text result (speech-to-text: ``resultJson.resultObject``), success only."""
    result_ids: tuple[str, ...] = ()
    """KIE's ids of the results, where a follow-up names one (Suno: each track's ``id``, what
    an extend takes as ``audioId``), in ``result_urls`` order; success only."""


# --- job actor (trt_actors.actors.job), routed by job id ------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitJob:
    """Call createTask for this job if it is due (created, or resubmission allowed)."""

    job_id: int
    """The job's id (the routing key)."""


@dataclass(frozen=True, slots=True)
class TaskObserved:
    """KIE said something about one of this job's tasks."""

    job_id: int
    """The job's id (the routing key)."""
    report: TaskReport
    """What KIE said."""
    source: Source
    """How it was heard."""
    inbox_id: int | None = None
    """Callback inbox row this came from (marked applied once handled)."""


@dataclass(frozen=True, slots=True)
class CheckDeadline:
    """The janitor found this job past its deadline or stuck; settle it."""

    job_id: int
    """The job's id (the routing key)."""


@dataclass(frozen=True, slots=True)
class CancelJob:
    """The user asked to cancel a job that KIE has not got yet."""

    job_id: int
    """The job's id (the routing key)."""


# --- chat actor (trt_actors.actors.chat), routed by chat id ----------------------------------


@dataclass(frozen=True, slots=True)
class UpdateReceived:
    """A Telegram update for this chat is in the update inbox; handle it (told by the intake,
    again at its start for every update not yet handled)."""

    update_id: int
    """Telegram's update id (the update inbox row)."""
    chat_id: int
    """The chat it belongs to (the routing key)."""


@dataclass(frozen=True, slots=True)
class TransferFile:
    """A file a user sent, to bring to KIE (handed to the edge's ``TransferPort``): getFile,
    download from Telegram, upload to KIE. The answer comes back to the chat actor as
    ``FileTransferred`` or ``FileTransferFailed`` with the same ``transfer_id``."""

    chat_id: int
    transfer_id: str
    file_id: str
    """Telegram's file id (stays valid: a stale upload is redone from it)."""
    size: int | None = None
    mime_type: str | None = None
    name_hint: str = "file"


@dataclass(frozen=True, slots=True)
class FileTransferred:
    """A file the user sent is at KIE: ``url`` (KIE's downloadUrl) is the input's value."""

    chat_id: int
    transfer_id: str
    url: str
    uploaded_at: float
    """Unix time of the upload (KIE keeps uploads ~24 h)."""


@dataclass(frozen=True, slots=True)
class FileTransferFailed:
    """A file the user sent could not be brought to KIE."""

    chat_id: int
    transfer_id: str
    reason: str
    """``too_big`` (over Telegram's 20 MB), ``telegram`` or ``kie`` (an error or timeout),
    ``gone`` (Telegram no longer has the file) or ``refused`` (KIE will not take it)."""


# --- janitor (trt_actors.actors.janitor) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sweep:
    """Look for due work now (told by the ticker every ``JanitorPolicy.interval``)."""


# --- status poller (gateways.kie.poller) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Poll:
    """Look for jobs due a status query now (told by the ticker)."""


# --- delivery actor (gateways.telegram.delivery) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Wake:
    """Look at the outbox now: something was queued (told after a commit that queued rows),
    or the delivery loop has room for more rows, or its ``interval`` passed."""


@dataclass(frozen=True, slots=True)
class DeliveryLoopFailed:
    """The delivery loop thread cannot go on (told by that thread); the actor fails with it,
    so its supervisor restarts it."""

    reason: str
    """Why, in one line (an invalid token, say; never the token itself)."""


# --- Telegram intake (gateways.telegram.intake) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class IntakeLoopFailed:
    """The long-poll loop thread crashed (it logged why; told by that thread); the actor fails,
    so its supervisor restarts it."""


# --- HTTP servers: callback gateway (gateways.kie.callback_app), status (gateways.status.app)


@dataclass(frozen=True, slots=True)
class GetUrl:
    """Asked: reply with the server's base URL (``http://host:port``, the bound port)."""


@dataclass(frozen=True, slots=True)
class CheckAlive:
    """Fail if the server thread died: told, the actor fails and is restarted; asked, the
    caller gets the ``RuntimeError`` and the actor keeps running."""


@dataclass(frozen=True, slots=True)
class GetCallbackStats:
    """Asked, callback gateway only: reply with a copy of its counters (received, stored,
    duplicates, parked, rejected, malformed, routed, db_errors, last_latency_ms)."""
