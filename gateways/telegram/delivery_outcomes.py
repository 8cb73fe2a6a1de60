"""The database side of delivering one outbox row: what to send, and what a send changed.

Blocking work, run on the delivery loop's thread pool (see :mod:`gateways.telegram.delivery`).
A ``result`` row moves its job SUCCEEDED → DELIVERING before sending; marking the row sent,
DELIVERING → DELIVERED and ``job_messages.delivered`` (plus the "did it arrive?" follow-up when
a part was maybe sent) are one transaction. A row that fails for good, or a chat that refuses
the bot, ends the result's job FAILED undeliverable — unless part of it already reached the
chat: then it is settled as sent (the caller decides, see ``DeliveryLoop``).

Fencing: each incarnation of the delivery actor takes an ``epoch`` at start and claims rows
with it; every write here is guarded on the row being ``sending`` under that epoch, so the
last call of a stopped incarnation (still running on its pool thread) cannot settle a row
that its successor has claimed since.

Progress edits are coalesced: a ``status_edit`` with a later edit of the same message still
to send is settled without a call (``delivery_superseded``): only the latest text goes out.
"""

from __future__ import annotations

from typing import Any

from gateways.telegram.send import RESULT_KINDS, Item
from trt_actors import (
    Cause,
    Failure,
    JobMessages,
    JobState,
    Store,
    broadcast,
    history,
    jobs,
    jsonb,
    language_of,
)


class Outcomes:
    """The database side of delivering one row (blocking; runs on the loop's thread pool)."""

    def __init__(self, store: Store, job_messages: JobMessages) -> None:
        self.store, self.job_messages = store, job_messages
        self.epoch = 0
        """This incarnation's claim epoch (``begin``); 0 owns nothing."""

    def begin(self) -> int:
        """Take a new epoch: rows claimed from now on are this incarnation's."""
        row = self.store.one("delivery_epoch")
        assert row is not None
        self.epoch = int(row["epoch"])
        return self.epoch

    def prepare(self, item: Item) -> tuple[bool, int | None]:
        """Before sending: ``(send?, message id a status_edit should edit)``."""
        if item.kind not in RESULT_KINDS or item.job_id is None:
            return self._prepare_message(item)
        with self.store.transaction() as tx:
            if tx.one("delivery_owned", id=item.id, epoch=self.epoch) is None:
                return False, None  # a successor claimed it: it is not ours to send
            job = jobs.load(tx, item.job_id)
            if job is None:
                tx.one("delivery_failed", id=item.id, error=f"job {item.job_id} not found",
                       epoch=self.epoch)
                return False, None
            item.lang = language_of(tx, job.user_id)
            if item.kind == "resend":  # a copy the owner asked for: the job is settled
                return True, None
            if job.state is JobState.SUCCEEDED:
                jobs.move(tx, job.id, JobState.DELIVERING, Cause.DELIVERY,
                          detail="sending the result")
            elif job.state is JobState.DELIVERED:
                if item.message_ids:  # sent before a crash: record, never send twice
                    tx.one("delivery_sent", id=item.id, message_ids=jsonb(item.message_ids),
                           maybe_sent=None, epoch=self.epoch)
                    return False, None
            elif job.state is not JobState.DELIVERING:
                tx.one("delivery_failed", id=item.id, epoch=self.epoch,
                       error=f"job {job.id} is {job.state.value}; result not sent")
                return False, None
            return True, None

    def _prepare_message(self, item: Item) -> tuple[bool, int | None]:
        """``prepare`` for a row no job moves with (an answer, a text, a progress message or
        its edit): read-only checks, each a statement of its own (no lock, no transaction:
        nothing changes with the send, and every settle is guarded on the epoch)."""
        with self.store.statements() as tx:
            if tx.one("delivery_mine", id=item.id, epoch=self.epoch) is None:
                return False, None  # a successor claimed it: it is not ours to send
            if item.kind != "status_edit":
                return True, None
            status_outbox_id = int(item.payload.get("status_outbox_id") or 0)
            if tx.one("delivery_superseded", id=item.id, epoch=self.epoch,
                      job_id=item.job_id, status_outbox_id=status_outbox_id) is not None:
                return False, None  # a later edit of the same message will show its text
            row = tx.one("delivery_status_message", job_id=item.job_id,
                         status_outbox_id=status_outbox_id)
            ids = row["message_ids"] if row else None
            return True, int(ids[0]) if ids else None

    def sent(self, item: Item, message_ids: list[int]) -> bool:
        """Record the send (a result's job DELIVERED, hold captured); False when the row is
        no longer this incarnation's (nothing changed)."""
        with self.store.transaction() as tx:
            return self._sent_in(tx, item, message_ids)

    def _sent_in(self, tx: Any, item: Item, message_ids: list[int]) -> bool:
        row = tx.one("delivery_sent", id=item.id, message_ids=jsonb(message_ids),
                     maybe_sent=jsonb(item.maybe_sent) if item.maybe_sent else None,
                     epoch=self.epoch)
        if row is None:
            return False
        if item.kind == "result" and item.job_id is not None:
            detail = f"{len(message_ids)} message(s) sent"
            if item.maybe_sent:
                detail += f", {len(item.maybe_sent)} part(s) maybe sent (timed out)"
            job = jobs.move(tx, item.job_id, JobState.DELIVERED, Cause.DELIVERY, detail=detail)
            history.store_files(tx, item.job_id, item.files)  # /history sends them again
            if job is not None:
                self.job_messages.delivered(tx, job)
                if item.maybe_sent:
                    self.job_messages.maybe_not_arrived(tx, job)
        return True

    def retry(self, item: Item, error: str, delay: float) -> int:
        row = self.store.one("delivery_retry", id=item.id, error=error, delay=delay,
                             epoch=self.epoch)
        return int(row["attempts"]) if row else item.attempts + 1

    def failed(self, item: Item, error: str) -> list[int]:
        """Fail the row (a result's job ends undeliverable); the ids failed."""
        with self.store.transaction() as tx:
            row = tx.one("delivery_failed", id=item.id, error=error, epoch=self.epoch)
            self._end_jobs(tx, [row] if row else [], error)
        return [item.id]

    def chat_gone(self, item: Item, error: str) -> list[int]:
        """Fail every queued message of the chat; the ids failed. A result that partly
        reached the chat was settled as sent first (``sent``): it is not among them."""
        if not item.counted:
            return self.failed(item, error)
        with self.store.transaction() as tx:
            if tx.one("delivery_owned", id=item.id, epoch=self.epoch) is None:
                return []  # a stale incarnation's verdict: its successor decides
            if item.reached:  # the user has part of it: delivered, not failed
                self._sent_in(tx, item, item.sent_ids())
            rows = tx.all("delivery_fail_chat", chat_id=item.chat_id, error=error,
                          epoch=self.epoch)
            broadcast.blocked(tx, item.chat_id)  # no broadcast reaches it any more
            self._end_jobs(tx, rows, error)
        return [row["id"] for row in rows]

    def _end_jobs(self, tx: Any, rows: list[dict[str, Any]], error: str) -> None:
        for row in rows:
            if row["kind"] == "result" and row["job_id"] is not None:
                job = jobs.move(tx, row["job_id"], JobState.FAILED, Cause.DELIVERY,
                                detail=error[:500], failure=Failure.UNDELIVERABLE)
                if job is not None:
                    self.job_messages.failed(tx, job, Failure.UNDELIVERABLE, error[:500])
