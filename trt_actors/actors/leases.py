"""Who owns what among the workers on one database: partition and singleton leases.

Chats, and the jobs they start, fall into ``PARTITIONS`` partitions (``partition_of``, the
same as SQL's ``trt_part``). Every worker runs one ``Leases``: a thread that, every
``interval`` seconds, in one transaction, beats the worker's heartbeat, renews what it holds,
gives back what exceeds its fair share (``ceil(PARTITIONS / live workers)``; after a short
drain, during which it starts nothing new there) and takes free or expired partitions up to
that share, and any free singleton (``SINGLETONS``). A lease lives ``ttl`` seconds past its
last renewal, so a worker killed with ``-9`` hands everything on within ``ttl + interval``.

Fencing is in the database (migration 0016): after each round the store's connections carry
the epochs held, and a write to a chat or job of a partition not held under one of them is
refused. So a worker that was paused past its lease, or lost a partition, changes nothing of
it, whatever its threads were doing.

The rest of the worker asks: ``parts()`` (the partition filter of every sweep),
``owns_chat``, ``holds(name)`` and ``valid_for(name)`` (the intake leader polls only while its
lease outlives the poll), ``share(window)`` (its part of a node-wide budget), and listens
to changes (``on_change``): a gained partition's waiting work is looked up at once, a
gained singleton's child started, a lost one's stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trt_actors.errors import StoreError
from trt_actors.infra.store import Store, jsonb

log = logging.getLogger("trt.leases")

PARTITIONS = 64
"""The number of partitions (SQL's ``trt_part`` has it too: changing it is a migration)."""
SINGLETONS = ("intake", "janitor", "broadcaster", "alerts")
"""The node-wide singletons: Telegram intake (one getUpdates per token), the janitor's global
sweeps (orphans, retention, counters), the broadcaster and the alert pusher."""


def partition_of(chat_id: int) -> int:
    """The partition of a chat (and of its jobs): SQL's ``trt_part``."""
    return chat_id % PARTITIONS


def _part_name(part: int) -> str:
    return f"part:{part}"


def _part_number(name: str) -> int:
    return int(name.partition(":")[2])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    ttl: float = 3.5
    """Seconds a lease lives past its last renewal: with ``interval``, a dead worker's
    partitions and singletons are taken over within ``ttl + interval`` seconds."""
    interval: float = 0.75
    """Seconds between rounds."""
    drain: float = 1.5
    """Seconds a partition given back to a newcomer is kept, unused, at least, before it is
    released: the moves already under way in it finish under the old epoch."""
    drain_max: float = 45.0
    """... and at most, while it is still busy (``busy``: a send on the wire, a createTask
    under way; longer than a createTask call can take)."""


@dataclass(frozen=True, slots=True)
class LeaseChange:
    """What one round changed: partitions and singletons gained and lost."""

    gained_parts: frozenset[int]
    lost_parts: frozenset[int]
    gained: frozenset[str]
    lost: frozenset[str]


class Leases:
    """This worker's leases; thread-safe to read from anywhere."""

    def __init__(self, store: Store, *, node: str, slot: int | None = None,
                 policy: LeasePolicy | None = None,
                 info: Callable[[], dict[str, Any]] | None = None,
                 singletons: tuple[str, ...] = SINGLETONS, expected: int = 1,
                 busy: Callable[[list[int]], set[int]] | None = None) -> None:
        self.store = store
        self._busy = busy
        """Of the partitions being given back, those this worker still works in (a send on
        the wire, a createTask under way): kept until idle, at most ``drain_max``."""
        self.expected = max(expected, 1)
        """The workers this worker's node is meant to have (``TRT_WORKERS``): from its first
        round it takes at most ``1 / expected`` of a budget, so the workers of a node that
        start together never need the newcomer's wait below."""
        self.policy = policy or LeasePolicy()
        self.node, self.slot, self.pid = node, slot, os.getpid()
        self.host = socket.gethostname()
        self.worker_id = f"{node}/{slot if slot is not None else 0}/{self.pid}"
        self._info = info or dict
        self._singletons = singletons
        self._lock = threading.Lock()
        self._epochs: dict[str, int] = {}
        """Lease name -> epoch, for every lease held (draining ones too)."""
        self._draining: dict[str, float] = {}
        """Partitions being given back -> when they are released (monotonic)."""
        self._deadline = 0.0
        """Monotonic time the leases held expire unless renewed (measured from the start of
        the round that renewed them: never later than the database's expiry)."""
        self._live = 1
        self._shares: deque[tuple[float, float]] = deque()
        self._listeners: list[Callable[[LeaseChange], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.failures = 0
        self._db_down = False

    # --- reading --------------------------------------------------------------------------

    def parts(self) -> list[int]:
        """The partitions this worker works on now (held, not being given back)."""
        with self._lock:
            if time.monotonic() >= self._deadline:
                return []
            return sorted(_part_number(n) for n in self._epochs
                          if n.startswith("part:") and n not in self._draining)

    def owns_chat(self, chat_id: int) -> bool:
        name = _part_name(partition_of(chat_id))
        with self._lock:
            return (name in self._epochs and name not in self._draining
                    and time.monotonic() < self._deadline)

    def holds(self, name: str) -> bool:
        return self.valid_for(name) > 0

    def valid_for(self, name: str) -> float:
        """Seconds the lease ``name`` is surely still this worker's (0: it is not)."""
        with self._lock:
            if name not in self._epochs:
                return 0.0
            return max(self._deadline - time.monotonic(), 0.0)

    def share(self, window: float) -> float:
        """This worker's part of a node-wide budget counted over ``window`` seconds: one
        over the live workers (or its node's worker count, if more), the smallest seen in
        the last ``window`` (plus a round), so
        a budget grows only once the takes of a worker that left (or of the larger shares
        before a worker joined) are out of every window."""
        horizon = time.monotonic() - window - self.policy.interval
        with self._lock:
            return min((s for t, s in self._shares if t >= horizon),
                       default=self._shares[-1][1] if self._shares else 1.0)

    def on_change(self, listener: Callable[[LeaseChange], None]) -> None:
        self._listeners.append(listener)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"worker": self.worker_id, "live_workers": self._live,
                    "partitions": len([n for n in self._epochs if n.startswith("part:")]),
                    "draining": len(self._draining),
                    "singletons": sorted(n for n in self._epochs if not n.startswith("part:")),
                    "rounds": self.rounds, "failures": self.failures}

    # --- running --------------------------------------------------------------------------

    def start(self) -> Leases:
        """Forget this host's dead workers, run the first round (so a lone worker starts
        holding everything), then renew on a thread of its own."""
        begun = time.monotonic()
        with contextlib.suppress(StoreError):
            self._forget_dead()
        self.round()
        if self._live > self.expected:
            # Joining workers beyond its node's own (another node's): no share of the
            # node-wide budgets for a window, so this worker's takes never stack on the
            # larger shares the others still use.
            with self._lock:
                self._shares.appendleft((begun, 0.0))
        self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing and give every lease back at once (the others take them on their
        next round)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.store.run("worker_gone", id=self.worker_id)
        except StoreError as exc:
            log.warning("leases: not given back (%s); they expire in %.1fs", exc,
                        self.policy.ttl)
        self._apply({}, 1)

    def _run(self) -> None:
        while not self._stop.wait(self.policy.interval):
            self.round()

    def _forget_dead(self) -> None:
        """Workers of this host whose process is gone (a kill -9, a crash): their leases
        end now instead of after their expiry."""
        for row in self.store.all("workers_of_host", host=self.host, id=self.worker_id):
            if not _alive(int(row["pid"])):
                self.store.run("worker_gone", id=row["id"])
                log.info("leases: worker %s is gone; its leases are free", row["id"])

    def round(self) -> LeaseChange | None:
        """One renewal round; what it changed (``None``: the database could not be asked)."""
        started = time.monotonic()
        try:
            held, live = self._round_tx(started)
        except StoreError as exc:
            self.failures += 1
            if not self._db_down:
                log.warning("leases: not renewed (%s)", exc)
            self._db_down = True
            if time.monotonic() >= self._deadline:  # all lapsed
                return self._apply({}, self._live)
            return None
        if self._db_down:
            log.warning("leases: renewed again")
        self._db_down = False
        self.rounds += 1
        with self._lock:
            self._deadline = started + self.policy.ttl
        return self._apply(held, live)

    def _round_tx(self, now: float) -> tuple[dict[str, int], int]:
        p = self.policy
        with self._lock:
            epochs = dict(self._epochs)
            draining = dict(self._draining)
        ripe = [n for n, at in draining.items() if at <= now]
        busy = self._busy([_part_number(n) for n in ripe]) if ripe and self._busy else set()
        with self.store.transaction() as tx:
            beat = tx.one("worker_beat", id=self.worker_id, node=self.node, host=self.host,
                          pid=self.pid, slot=self.slot, info=jsonb(self._safe_info()),
                          ttl=p.ttl)
            live = int(beat["live"]) if beat else 1
            held = {r["name"]: int(r["epoch"]) for r in tx.all(
                "leases_renew", owner=self.worker_id, epochs=list(epochs.values()),
                ttl=p.ttl)} if epochs else {}
            done = [n for n in ripe if n in held and (
                _part_number(n) not in busy or draining[n] + p.drain_max - p.drain <= now)]
            if done:
                tx.run("leases_release", owner=self.worker_id,
                       epochs=[held.pop(n) for n in done])
            share = math.ceil(PARTITIONS / max(live, 1))
            active = sorted((n for n in held if n.startswith("part:") and n not in draining),
                            key=_part_number)
            want = share - len(active) - len([n for n in draining if n in held])
            names = [_part_name(i) for i in range(PARTITIONS) if _part_name(i) not in held]
            if want > 0:
                held.update({r["name"]: int(r["epoch"]) for r in tx.all(
                    "leases_acquire", names=names, limit=want, owner=self.worker_id,
                    ttl=p.ttl)})
            free = [n for n in self._singletons if n not in held]
            if free:
                held.update({r["name"]: int(r["epoch"]) for r in tx.all(
                    "leases_acquire", names=free, limit=len(free), owner=self.worker_id,
                    ttl=p.ttl)})
        with self._lock:
            for name in done:
                self._draining.pop(name, None)
            for name in list(self._draining):
                if name not in held:
                    self._draining.pop(name)
            if len(active) > share:  # give the extras back, after the drain
                for name in active[share:]:
                    self._draining.setdefault(name, now + p.drain)
        return held, live

    def _safe_info(self) -> dict[str, Any]:
        try:
            return self._info()
        except Exception as exc:  # /status must not cost the leases
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _apply(self, held: dict[str, int], live: int) -> LeaseChange:
        # The fence first: a chat this worker is seen to own can be written at once.
        self.store.set_fence(list(held.values()))
        with self._lock:
            before = set(self._epochs)
            kept = {n for n in before if n in held and held[n] == self._epochs[n]}
            self._epochs = dict(held)
            self._live = live
            now = time.monotonic()
            self._shares.append((now, 1.0 / max(live, self.expected)))
            while len(self._shares) > 1 and self._shares[0][0] < now - 120:
                self._shares.popleft()
        gained, lost = set(held) - kept, before - kept
        change = LeaseChange(
            gained_parts=frozenset(_part_number(n) for n in gained if n.startswith("part:")),
            lost_parts=frozenset(_part_number(n) for n in lost if n.startswith("part:")),
            gained=frozenset(n for n in gained if not n.startswith("part:")),
            lost=frozenset(n for n in lost if not n.startswith("part:")))
        if gained or lost:
            log.info("leases: %s holds %d partitions%s; gained %d, lost %d%s",
                     self.worker_id, len([n for n in held if n.startswith("part:")]),
                     f" and {', '.join(sorted(n for n in held if ':' not in n))}"
                     if any(":" not in n for n in held) else "",
                     len(change.gained_parts), len(change.lost_parts),
                     f"; singletons +{sorted(change.gained)} -{sorted(change.lost)}"
                     if change.gained or change.lost else "")
            for listener in self._listeners:
                try:
                    listener(change)
                except Exception:
                    log.exception("leases: a change listener failed")
        return change
