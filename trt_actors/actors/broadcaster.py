"""The broadcaster: moves broadcast recipients into the outbox, paced, results first.

Ticked every ``interval`` seconds (``Wake``). Each tick it looks at the outbox: while any
other message is due and unclaimed it queues nothing (results and replies go first); else
it tops the broadcast rows open in the outbox up to ``open_max``, within ``per_second``
(a token bucket), oldest broadcast first. It edits each admin's progress message (sent,
blocked, left) at most every ``show_every`` seconds and once at the end. Stateless: every
fact is in PostgreSQL (see ``domain.broadcast``), so a restart, or a ``kill -9``, resumes
where the database says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trt_actors.actors.periodic import Periodic
from trt_actors.actors.ticker import Ticker
from trt_actors.conversation import texts
from trt_actors.conversation.job_messages import language_of
from trt_actors.domain import broadcast
from trt_actors.infra.store import Store

log = logging.getLogger("trt.broadcast")


@dataclass(frozen=True, slots=True)
class BroadcastPolicy:
    per_second: float = 20.0
    """Broadcast copies per second at most (``TRT_BROADCAST_PER_S``): below the bot-wide
    ``TRT_TELEGRAM_PER_S``, so results always find room."""
    open_max: int = 8
    """Broadcast rows in the outbox at once: what a result may find ahead of it."""
    interval: float = 0.2
    """Seconds between looks."""
    show_every: float = 3.0
    """Seconds between edits of the admin's progress message."""


class Broadcaster(Periodic):
    """A permanent child of the node's supervisor; restarting it loses nothing."""

    def __init__(self, store: Store, ticker: Ticker, wake_delivery: Callable[[], None],
                 policy: BroadcastPolicy | None = None) -> None:
        super().__init__()
        self.store, self.ticker, self.wake_delivery = store, ticker, wake_delivery
        self.policy = policy or BroadcastPolicy()
        self.interval, self.log = self.policy.interval, log
        self.tokens = float(self.policy.open_max)
        self.filled_at = time.monotonic()

    def round(self) -> int:
        return self.pump()

    def pump(self) -> int:
        """One look: queue what the pacing allows, show progress; how many were queued."""
        p = self.policy
        now = time.monotonic()
        self.tokens = min(float(max(p.open_max, 1)),
                          self.tokens + (now - self.filled_at) * p.per_second)
        self.filled_at = now
        running = broadcast.running(self.store)
        if not running:
            return 0
        mine, others = broadcast.room(self.store)
        budget = 0 if others else min(p.open_max - mine, int(self.tokens))
        queued = 0
        for row in running:
            n = 0
            if budget > 0:
                with self.store.transaction() as tx:
                    n = broadcast.queue(tx, int(row["id"]), budget)
                budget -= n
                queued += n
                self.tokens -= n
            self._show(row, maybe_done=n == 0)
        if queued:
            self.wake_delivery()
        return queued

    def _show(self, row: dict[str, Any], *, maybe_done: bool) -> None:
        """Edit the progress message when ``show_every`` passed, or it may have ended."""
        if not maybe_done and row["shown_age_s"] < self.policy.show_every:
            return
        progress = broadcast.progress(self.store, int(row["id"]), int(row["total"]))
        with self.store.transaction() as tx:
            lang = language_of(tx, int(row["admin_id"]))
            text = progress_text(lang, int(row["id"]), progress)
            if text == row["shown"] and not progress.done:
                return
            broadcast.show(tx, row, text, done=progress.done)
        if progress.done:
            log.info("broadcast %s done: %s", row["id"], progress)
        self.wake_delivery()


def progress_text(lang: str, broadcast_id: int, p: broadcast.Progress) -> str:
    key = "bc.done" if p.done else "bc.progress"
    return texts.t(lang, key, id=broadcast_id, total=p.total, sent=p.sent, blocked=p.blocked,
                   left=p.left)
