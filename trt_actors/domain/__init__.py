"""The domain: the job state machine, jobs, the credit ledger, the outbox, alerts, and the
operator's model settings (prices, switches).

``jobs``, ``ledger``, ``outbox`` and ``model_settings`` are modules of functions over a
transaction (``Tx``); they are exported as modules so call sites read ``jobs.move(tx, ...)``.
"""

from trt_actors.domain import (
    alert_push,
    broadcast,
    history,
    jobs,
    ledger,
    model_settings,
    orphans,
    outbox,
    referrals,
)
from trt_actors.domain.admin import AccountPolicy
from trt_actors.domain.alerts import TELEGRAM_OTHER_POLLER, TELEGRAM_WEBHOOK, Alerts
from trt_actors.domain.jobs import Job
from trt_actors.domain.orphans import OrphanCap
from trt_actors.domain.states import TERMINAL, TRANSITIONS, Cause, Failure, JobState, allowed_from

__all__ = [
    "TELEGRAM_OTHER_POLLER",
    "TELEGRAM_WEBHOOK",
    "TERMINAL",
    "TRANSITIONS",
    "AccountPolicy",
    "Alerts",
    "Cause",
    "Failure",
    "Job",
    "JobState",
    "OrphanCap",
    "alert_push",
    "allowed_from",
    "broadcast",
    "history",
    "jobs",
    "ledger",
    "model_settings",
    "orphans",
    "outbox",
    "referrals",
]
