"""The status poller: asks KIE about due jobs, never faster than KIE allows.

Without a public callback URL this is the only way results arrive; with one, it is the
safety net for callbacks that never come. Each sweep takes at most as many due jobs as the
status rate limiter has tokens, asks recordInfo for each of their open tasks on a small
thread pool, and turns every answer into the same ``TaskObserved`` a callback produces.
The next poll of each job is scheduled from its age, per KIE's guidance, shaped by the
model's expected duration, with jitter.
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gateways.kie.client import KieClient
from gateways.published import Published
from supervision import SupervisedActor
from trt_actors import (
    DatabaseUnavailable,
    KieError,
    KieRetryable,
    Poll,
    Router,
    Source,
    Store,
    TaskObserved,
    Ticker,
    metrics,
)

log = logging.getLogger("trt.poller")


def poll_delay(age: float, expected: float, rng: random.Random | None = None) -> float:
    """Seconds until the next status query of a task ``age`` seconds old.

    KIE suggests every 2–3 s for the first 30 s, 5–10 s until 2 min, then 15–30 s: the delay
    never goes below that band's floor, whatever the model (an overdue short task must not be
    asked every 2.5 s for minutes, spending the status budget every other job needs). Far from
    the expected end (before half of it) there is no point asking that often (up to an eighth
    of the expected time, at most 30 s); near it, ask often enough to notice the end within a
    tenth of the expected time, as far as the band allows.
    """
    if age < 30:
        floor, ceiling, base = 2.0, 3.0, 2.5
    elif age < 120:
        floor, ceiling, base = 5.0, 10.0, 7.5
    else:
        floor, ceiling = 15.0, 30.0
        base = min(ceiling, max(floor, 0.1 * age))
    if age < 0.5 * expected:
        base = max(base, min(30.0, 0.125 * expected))
    else:
        base = min(base, max(floor, 0.1 * expected))
    # ±15 % jitter spreads jobs submitted together, kept within the band (or, for a longer
    # shaped wait, not beyond it).
    low = max(floor, 0.85 * base)
    high = max(low, min(max(ceiling, base), 1.15 * base))
    return (rng or random).uniform(low, high)


class AnswerWindow:
    """At most ``limit`` status queries in any ``window`` seconds *as KIE sees them*.

    A query counts from the moment it is sent until ``window`` seconds after its answer
    arrived. KIE receives each query somewhere between those two moments, so however the
    network bunches them up, KIE never sees more than ``limit`` in one window (a limiter that
    counts only send times can be beaten by a delay that delivers a burst together).
    """

    def __init__(self, limit: int, window: float = 1.0, clock: Any = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._answered: collections.deque[float] = collections.deque()
        self.share: Callable[[], float] = lambda: 1.0
        """This worker's part of the node-wide limit (``Leases.share``)."""

    def _limit(self) -> int:
        share = self.share()
        return self.limit if share >= 1.0 else math.floor(self.limit * share)

    def _count(self, now: float) -> int:
        while self._answered and now - self._answered[0] >= self.window:
            self._answered.popleft()
        return self._in_flight + len(self._answered)

    def acquire(self, timeout: float) -> bool:
        deadline = self.clock() + timeout
        with self._cond:
            while True:
                now = self.clock()
                if self._count(now) < self._limit():
                    self._in_flight += 1
                    return True
                wait = deadline - now
                if wait <= 0:
                    return False
                next_free = (self._answered[0] + self.window - now) if self._answered else wait
                self._cond.wait(max(0.001, min(wait, next_free)))

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._answered.append(self.clock())
            self._cond.notify_all()

    def headroom(self) -> int:
        with self._cond:
            return max(0, self._limit() - self._count(self.clock()))


class Poller(SupervisedActor):
    """Permanent child of the node's supervisor. Publishes :meth:`snapshot` to
    ``published`` (thread-safe: its counters are kept under a lock)."""

    def __init__(self, store: Store, client: KieClient, jobs: Router, ticker: Ticker, *,
                 interval: float = 0.2, workers: int = 4, rate_per_s: float = 10.0,
                 published: Published | None = None,
                 parts: Callable[[], list[int] | None] = lambda: None,
                 share: Callable[[float], float] | None = None) -> None:
        super().__init__()
        self.store, self.client, self.jobs, self.ticker = store, client, jobs, ticker
        self.interval = interval
        self.rate_per_s = rate_per_s
        self.pace = AnswerWindow(max(1, int(rate_per_s)), 1.0)
        if share is not None:
            self.pace.share = lambda: share(1.0)
        self.parts = parts
        """The partitions whose jobs this worker polls (``None``: all)."""
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="kie-poll")
        self._lock = threading.Lock()  # the counters below change on the pool's threads
        self.in_flight = 0
        self.polls = 0
        self.errors = 0
        self.recent: list[float] = []  # times of recent queries, for the rate on /status
        self.rng = random.Random()
        if published is not None:
            published.publish(self.snapshot)

    def on_start(self) -> None:
        self.ticker.every(self.interval, self.actor_ref, Poll())

    def on_stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def on_receive(self, message: Any) -> Any:
        match message:
            case Poll():
                try:
                    self.poll_once()
                except DatabaseUnavailable as exc:
                    log.debug("poller: %s", exc)
            case _:
                log.warning("poller: unexpected message %r", message)
        return None

    def poll_once(self) -> int:
        """Hand out as many due jobs as the rate limit allows right now."""
        headroom = min(int(self.client.rate_headroom()["status"]["available"]),
                       self.pace.headroom())
        if headroom <= 0:
            return 0
        rows = self.store.all("jobs_due_poll", limit=headroom, lease=30.0, parts=self.parts())
        ids, delays = [], []
        for row in rows:
            ids.append(row["id"])
            delays.append(poll_delay(row["age"], row["expected_seconds"], self.rng))
            for task_id in row["task_ids"]:
                with self._lock:
                    self.in_flight += 1
                self.pool.submit(self._ask, row["id"], row["family"], task_id)
        if ids:
            self.store.run("jobs_schedule", job_ids=ids, delays=delays)
        return len(rows)

    def _ask(self, job_id: int, family: str, task_id: str) -> None:
        paced = False
        try:
            if not self.pace.acquire(2.0):
                raise KieRetryable("poller pace: no status query free within 2 s")
            paced = True
            with metrics.STATUS_QUERY_SECONDS.time():
                report = self.client.get_task(family, task_id, rate_wait=2.0)
        except KieError as exc:
            with self._lock:
                self.errors += 1
            log.info("poll of job %s task %s failed: %s", job_id, task_id, exc,
                     extra={"job_id": job_id, "task_id": task_id})
        else:
            self.jobs.route(job_id, TaskObserved(job_id, report, Source.POLL))
        finally:
            if paced:
                self.pace.release()
            now = time.monotonic()
            with self._lock:
                self.in_flight -= 1
                self.polls += 1
                self.recent = [t for t in self.recent[-200:] if now - t < 10] + [now]

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self.recent if now - t < 10]
        return {"polls": self.polls, "errors": self.errors, "in_flight": self.in_flight,
                "rate_per_s": round(len(recent) / 10, 2), "limit_per_s": self.rate_per_s}
