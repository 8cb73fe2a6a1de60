"""Broadcasts: one admin message to every user who has not blocked the bot or opted out.

- **Audience.** ``/stop`` opts a user out, ``/start`` back in (and clears a block: a user who
  starts the bot again has unblocked it); a 403 from Telegram marks the chat blocked
  (``blocked``, called by delivery). Banned users are never recipients.
- **Start.** The confirm writes the broadcast, its recipients (chosen then, one row each) and
  the admin's progress message in the update's transaction, under a dedup key: a replayed
  confirm starts nothing new.
- **Pacing, results first.** The broadcaster (``actors.broadcaster``) moves recipients into
  the outbox a few at a time (``queue``): only while no other message is due and unclaimed,
  at most ``open_max`` broadcast rows open at once and ``per_second`` a second. A result is
  therefore never queued behind more than ``open_max`` broadcast rows (delivery sends oldest
  first), and the rest of the bot's budget stays free.
- **Exactly once, and the crash window.** A recipient is marked queued in the statement that
  writes its outbox row (dedup key ``bc:<broadcast>:<user>``), so a ``kill -9`` queues nobody
  twice; from there the outbox's promise holds: the only message that can reach a user twice
  is one on the wire at the kill (sent by Telegram, not yet marked sent: delivery sends rows
  left ``sending`` again at start) — at most the few rows open at that instant.
- **Progress.** ``progress`` counts the recipients' outbox rows: sent, blocked (failed: the
  chat refused the bot), left; the broadcaster edits the admin's message with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trt_actors.domain import outbox
from trt_actors.infra.store import Store, Tx, jsonb

KIND = "broadcast"
"""The outbox kind of a broadcast copy: ``{"text"}`` or ``{"photo", "caption"}``."""


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    sent: int
    blocked: int
    left: int

    @property
    def done(self) -> bool:
        return self.left == 0


def stop(tx: Tx, user_id: int) -> None:
    """/stop: no more broadcasts for this user (until /start)."""
    tx.run("audience_stop", user_id=user_id)


def start_again(tx: Tx, user_id: int) -> bool:
    """/start: back in the audience; True when the user was out (opted out or blocked)."""
    return tx.run("audience_start", user_id=user_id) > 0


def blocked(store: Store | Tx, chat_id: int) -> None:
    """Telegram refused the bot in this chat (403): a private chat's user gets no broadcast."""
    if chat_id > 0:  # private chats have the user's id; groups are negative
        store.run("audience_blocked", user_id=chat_id)


def create(tx: Tx, *, admin_id: int, chat_id: int, payload: dict[str, Any], dedup_key: str,
           progress_text: Callable[[int, Progress], str]) -> tuple[int, int] | None:
    """Start a broadcast: (id, recipients); None when ``dedup_key`` started one already.
    ``progress_text(id, progress)`` is the admin's progress message, edited as it goes."""
    row = tx.one("broadcast_create", admin_id=admin_id, chat_id=chat_id,
                 payload=jsonb(payload), dedup_key=dedup_key)
    if row is None:
        return None
    broadcast_id = int(row["id"])
    filled = tx.one("broadcast_fill", id=broadcast_id)
    total = int(filled["total"]) if filled else 0
    text = progress_text(broadcast_id, Progress(total, 0, 0, total))
    progress = outbox.add(tx, chat_id, "text", {"text": text},
                          dedup_key=f"bc:{broadcast_id}:progress")
    tx.run("broadcast_progress_message", id=broadcast_id, outbox_id=progress, text=text)
    return broadcast_id, total


def room(store: Store | Tx) -> tuple[int, int]:
    """(broadcast rows open in the outbox, other messages due and unclaimed)."""
    row = store.one("broadcast_room")
    return (int(row["mine"]), int(row["others"])) if row else (0, 0)


def queue(tx: Tx, broadcast_id: int, limit: int) -> int:
    """Move up to ``limit`` recipients into the outbox; how many were queued."""
    if limit <= 0:
        return 0
    return len(tx.all("broadcast_queue", id=broadcast_id, limit=limit))


def running(store: Store | Tx) -> list[dict[str, Any]]:
    return store.all("broadcast_running")


def progress(store: Store | Tx, broadcast_id: int, total: int) -> Progress:
    row = store.one("broadcast_progress", id=broadcast_id)
    if row is None:
        return Progress(total, 0, 0, total)
    return Progress(total, int(row["sent"]), int(row["blocked"]), int(row["left_"]))


def show(tx: Tx, broadcast: dict[str, Any], text: str, *, done: bool) -> bool:
    """Edit the admin's progress message to ``text`` (once per distinct text); a finished
    broadcast is closed. False when it was closed meanwhile."""
    if not tx.run("broadcast_shown", id=broadcast["id"], text=text, done=done):
        return False
    if broadcast["progress_outbox_id"] is not None:
        outbox.add(tx, int(broadcast["chat_id"]), "status_edit",
                   {"text": text, "status_outbox_id": int(broadcast["progress_outbox_id"])},
                   dedup_key=f"bc:{broadcast['id']}:shown:{text}"[:400])
    return True
