"""The database side of delivering one outbox row: what to send, and what a send changed.

Blocking work, run on the delivery loop's thread pool (see :mod:`gateways.telegram.delivery`).
A ``result`` row moves its job SUCCEEDED → DELIVERING before sending; marking the row sent,
DELIVERING → DELIVERED and ``job_messages.delivered`` are one transaction. A row that fails for
good, or a chat that refuses the bot, ends the result's job FAILED undeliverable.
"""

from __future__ import annotations

from typing import Any

from gateways.telegram.send import Item
from trt_actors import Cause, Failure, JobMessages, JobState, Store, jobs, jsonb, language_of


class Outcomes:
    """The database side of delivering one row (blocking; runs on the loop's thread pool)."""

    def __init__(self, store: Store, job_messages: JobMessages) -> None:
        self.store, self.job_messages = store, job_messages

    def prepare(self, item: Item) -> tuple[bool, int | None]:
        """Before sending: ``(send?, message id a status_edit should edit)``."""
        with self.store.transaction() as tx:
            if item.kind == "status_edit":
                row = tx.one("delivery_status_message", job_id=item.job_id,
                             status_outbox_id=int(item.payload.get("status_outbox_id") or 0))
                ids = row["message_ids"] if row else None
                return True, int(ids[0]) if ids else None
            if item.kind != "result" or item.job_id is None:
                return True, None
            job = jobs.load(tx, item.job_id)
            if job is None:
                tx.one("delivery_failed", id=item.id, error=f"job {item.job_id} not found")
                return False, None
            item.lang = language_of(tx, job.user_id)
            if job.state is JobState.SUCCEEDED:
                jobs.move(tx, job.id, JobState.DELIVERING, Cause.DELIVERY,
                          detail="sending the result")
            elif job.state is JobState.DELIVERED:
                if item.message_ids:  # sent before a crash: record, never send twice
                    tx.one("delivery_sent", id=item.id, message_ids=jsonb(item.message_ids))
                    return False, None
            elif job.state is not JobState.DELIVERING:
                tx.one("delivery_failed", id=item.id,
                       error=f"job {job.id} is {job.state.value}; result not sent")
                return False, None
            return True, None

    def sent(self, item: Item, message_ids: list[int]) -> None:
        with self.store.transaction() as tx:
            tx.one("delivery_sent", id=item.id, message_ids=jsonb(message_ids))
            if item.kind == "result" and item.job_id is not None:
                job = jobs.move(tx, item.job_id, JobState.DELIVERED, Cause.DELIVERY,
                                detail=f"{len(message_ids)} message(s) sent")
                if job is not None:
                    self.job_messages.delivered(tx, job)

    def retry(self, item: Item, error: str, delay: float) -> int:
        row = self.store.one("delivery_retry", id=item.id, error=error, delay=delay)
        return int(row["attempts"]) if row else item.attempts + 1

    def failed(self, item: Item, error: str) -> list[int]:
        """Fail the row (a result's job ends undeliverable); the ids failed."""
        with self.store.transaction() as tx:
            row = tx.one("delivery_failed", id=item.id, error=error)
            self._end_jobs(tx, [row] if row else [], error)
        return [item.id]

    def chat_gone(self, item: Item, error: str) -> list[int]:
        """Fail every queued message of the chat; the ids failed."""
        if not item.counted:
            return self.failed(item, error)
        with self.store.transaction() as tx:
            rows = tx.all("delivery_fail_chat", chat_id=item.chat_id, error=error)
            self._end_jobs(tx, rows, error)
        return [row["id"] for row in rows]

    def _end_jobs(self, tx: Any, rows: list[dict[str, Any]], error: str) -> None:
        for row in rows:
            if row["kind"] == "result" and row["job_id"] is not None:
                job = jobs.move(tx, row["job_id"], JobState.FAILED, Cause.DELIVERY,
                                detail=error[:500], failure=Failure.UNDELIVERABLE)
                if job is not None:
                    self.job_messages.failed(tx, job, Failure.UNDELIVERABLE, error[:500])
