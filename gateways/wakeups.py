"""Wake-ups between the workers of a node (and the nodes on one database).

Whoever stores work for a chat another worker owns (the intake leader an update, any
worker's callback gateway a callback; the broadcaster and the alert pusher queued messages)
sends a ``NOTIFY trt_wake`` in the same transaction; each worker LISTENs and hands what is
for its own chats to their actors at once. A wake-up lost on the way (a listener
reconnecting, a partition changing hands) costs only latency: the janitor's sweeps find the
same work, and a worker that gains partitions looks for their waiting work at once
(:meth:`Wakeups.redrive`).

Payloads: ``u:<chat>:<update>`` an update, ``c:<chat>:<job>:<inbox>`` a callback,
``o`` the outbox (every worker's delivery looks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from trt_actors import (
    Leases,
    Router,
    Source,
    Store,
    StoreError,
    TaskObserved,
    TaskReport,
    UpdateReceived,
)

log = logging.getLogger("trt.wakeups")

CHANNEL = "trt_wake"
OUTBOX = "o"


class Wakeups:
    """The LISTEN thread of one worker, and the look-up of a gained partition's work."""

    def __init__(self, store: Store, leases: Leases, chats: Router, jobs: Router,
                 parse: Callable[[bytes], TaskReport | None],
                 wake_delivery: Callable[[], None],
                 delivery_epoch: Callable[[], int | None] = lambda: None) -> None:
        self.store, self.leases, self.chats, self.jobs = store, leases, chats, jobs
        self.parse, self.wake_delivery = parse, wake_delivery
        self.delivery_epoch = delivery_epoch
        """This worker's delivery epoch: what it claimed itself is not taken back."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connects = 0
        self.received = 0

    def start(self) -> Wakeups:
        self._thread = threading.Thread(
            target=self.store.listen, args=(CHANNEL, self.on_wake, self._stop),
            kwargs={"on_connect": self._listening}, name="wakeups", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listening(self) -> None:
        """LISTEN again after a lost connection (a database restart): what was sent while
        nobody listened is looked up (the first LISTEN finds the start's own look-up)."""
        if self._connects:
            self.redrive(self.leases.parts())
        self._connects += 1

    def on_wake(self, payload: str) -> None:
        self.received += 1
        kind, *fields = payload.split(":")
        if kind == OUTBOX:
            self.wake_delivery()
            return
        if not fields or not self.leases.owns_chat(chat_id := int(fields[0])):
            return
        if kind == "u" and len(fields) == 2:
            self.chats.route(chat_id, UpdateReceived(int(fields[1]), chat_id))
        elif kind == "c" and len(fields) == 3:
            row = self.store.one("inbox_pending", inbox_id=int(fields[2]))
            if row is not None:
                self._replay(row)
        else:
            log.warning("wake-up not understood: %r", payload[:100])

    def _replay(self, row: dict[str, object]) -> None:
        report = self.parse(bytes(row["body"]))  # type: ignore[call-overload]
        job_id = row["job_id"]
        if report is not None and isinstance(job_id, int):
            self.jobs.route(job_id, TaskObserved(job_id, report, Source.CALLBACK,
                                                 int(row["id"])))  # type: ignore[call-overload]

    def redrive(self, parts: Iterable[int]) -> None:
        """Partitions this worker just gained: their waiting updates and callbacks to their
        actors, what their previous owner was sending back to the queue (it may reach a
        chat twice if that worker was alive and mid-send: the documented window), and the
        delivery woken. Due jobs are the poller's and the janitor's next sweep."""
        wanted = sorted(parts)
        if not wanted:
            return
        try:
            updates = self.store.all("updates_unhandled", limit=100_000, parts=wanted)
            callbacks = self.store.all("inbox_stale", older_than=0, limit=10_000, parts=wanted)
            requeued = self.store.run("delivery_requeue", parts=wanted,
                                      epoch=self.delivery_epoch())
        except StoreError as exc:
            log.warning("gained partitions not looked at (%s): the janitor will", exc)
            return
        for row in updates:
            if row["chat_id"] is not None:
                self.chats.route(row["chat_id"],
                                 UpdateReceived(row["update_id"], row["chat_id"]))
        for row in callbacks:
            self._replay(row)
        if updates or callbacks or requeued:
            log.info("gained %d partitions: %d updates, %d callbacks, %d sends taken over",
                     len(wanted), len(updates), len(callbacks), requeued)
        self.wake_delivery()
