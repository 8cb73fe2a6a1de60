"""The domain: the job state machine, jobs, the credit ledger, the outbox, alerts.

``jobs``, ``ledger`` and ``outbox`` are modules of functions over a transaction (``Tx``);
they are exported as modules so call sites read ``jobs.move(tx, ...)``.
"""

from trt_actors.domain import jobs, ledger, outbox
from trt_actors.domain.alerts import Alerts
from trt_actors.domain.jobs import Job
from trt_actors.domain.states import TERMINAL, TRANSITIONS, Cause, Failure, JobState, allowed_from

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "Alerts",
    "Cause",
    "Failure",
    "Job",
    "JobState",
    "allowed_from",
    "jobs",
    "ledger",
    "outbox",
]
