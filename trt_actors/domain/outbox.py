"""The outbox: every message the bot will send, written in the transaction that decided it.

The delivery actor is the only reader and the only writer to Telegram. A row's ``kind``
says what to do with its ``payload``:

- ``text``: ``{"text", "buttons"?: [[{"label", "data"}]], "edit_message_id"?}`` — a message,
  or an edit of an earlier one when ``edit_message_id`` is set;
- ``status``: a job's progress message ``{"text"}``; its Telegram message id is recorded so
  later ``status_edit`` rows (``{"text", "status_outbox_id"}``) can edit it. It may be
  deferred (``TRT_PROGRESS_AFTER_S``): due a few seconds after confirm, and dropped unsent
  when the job has its outcome before then (a fast job's user gets the result alone);
- ``result``: ``{"urls", "result_kind", "caption"}`` — a job's media; sending it moves the
  job SUCCEEDED → DELIVERING → DELIVERED (hold captured); ``resend``, the same payload: a
  copy of a delivered job's result its owner asked for (no job move, no charge);
- ``invoice``: ``{"title", "description", "payload", "stars"}``;
- ``answer_callback``: ``{"callback_query_id", "text"?}``; ``answer_precheckout``:
  ``{"query_id", "ok", "error_message"?}`` — answers, not messages, but they go the same way
  so there is one writer.

``dedup_key`` makes a repeated decision (a replayed update, a repeated callback) write
nothing new. A row's class at delivery (:class:`Priority`, lower first) follows from its
kind and job (``delivery_claim`` in sql/queries.sql computes it).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from trt_actors.infra.store import Tx, jsonb


class Priority(IntEnum):
    """Delivery's classes, most urgent first (``delivery_claim`` gives each row its class).
    Within one chat rows still go in their order; across chats the most urgent goes first, and
    a row that waited too long goes before all."""

    ANSWER = 0
    """The answer to what a user just did: ``text`` without a job (a command's reply, a
    button's screen), ``invoice``, ``status`` (the progress message at confirm), and the
    answers to queries (never paced)."""
    RESULT = 1
    """A job's ``result``, a ``resend``, and its follow-ups (``text`` with a job)."""
    PROGRESS = 2
    """A ``status_edit`` of a job's progress message (only the latest edit is sent)."""
    BROADCAST = 3
    """A ``broadcast``: a message to many users nobody is waiting for."""


def add(
    tx: Tx, chat_id: int, kind: str, payload: dict[str, Any], *, dedup_key: str | None = None,
    job_id: int | None = None, delay: float = 0.0,
) -> int | None:
    """Queue one outgoing action (due ``delay`` seconds from now); ``None`` when
    ``dedup_key`` was already queued."""
    row = tx.one("outbox_insert", chat_id=chat_id, job_id=job_id, kind=kind,
                 payload=jsonb(payload), dedup_key=dedup_key, delay=delay)
    return row["id"] if row else None
