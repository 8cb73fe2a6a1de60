"""The outbox: every message the bot will send, written in the transaction that decided it.

The delivery actor is the only reader and the only writer to Telegram. A row's ``kind``
says what to do with its ``payload``:

- ``text``: ``{"text", "buttons"?: [[{"label", "data"}]], "edit_message_id"?}`` — a message,
  or an edit of an earlier one when ``edit_message_id`` is set;
- ``status``: a job's progress message ``{"text"}``; its Telegram message id is recorded so
  later ``status_edit`` rows (``{"text", "status_outbox_id"}``) can edit it;
- ``result``: ``{"urls", "result_kind", "caption"}`` — a job's media; sending it moves the
  job SUCCEEDED → DELIVERING → DELIVERED (hold captured); ``resend``, the same payload: a
  copy of a delivered job's result its owner asked for (no job move, no charge);
- ``invoice``: ``{"title", "description", "payload", "stars"}``;
- ``answer_callback``: ``{"callback_query_id", "text"?}``; ``answer_precheckout``:
  ``{"query_id", "ok", "error_message"?}`` — answers, not messages, but they go the same way
  so there is one writer.

``dedup_key`` makes a repeated decision (a replayed update, a repeated callback) write
nothing new.
"""

from __future__ import annotations

from typing import Any

from trt_actors.infra.store import Tx, jsonb


def add(
    tx: Tx, chat_id: int, kind: str, payload: dict[str, Any], *, dedup_key: str | None = None,
    job_id: int | None = None,
) -> int | None:
    """Queue one outgoing action; ``None`` when ``dedup_key`` was already queued."""
    row = tx.one("outbox_insert", chat_id=chat_id, job_id=job_id, kind=kind,
                 payload=jsonb(payload), dedup_key=dedup_key)
    return row["id"] if row else None
