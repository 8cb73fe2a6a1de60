"""The node under chaos: its process (or processes), and how the harness kills them.

``ChaosNode`` is the node as ``run_node.py run``; with ``workers`` > 1 as ``run --workers N``
(issue 16): a parent that starts N worker processes, each registered in the ``workers``
table (id ``<node>/<slot>/<pid>``, a heartbeat) and holding leases (``leases``: ``part:0``..
``part:63``, ``intake``, ...). ``WorkerKiller`` kills a random worker, the intake leader, or
the whole node (the parent, which takes its workers with it). Workers are found in the
database and killed with SIGKILL only once the process table says the pid is a live
descendant of this node's parent (a row's pid may be stale). Each kill returns its record for
the outcome: kind, pid, and how long the node took to mend (the parent restarting the
worker's slot, another worker taking the intake lease over, the workers following their
killed parent).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg.rows import dict_row

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import ROOT, NodeProcess
from tests.support.waiting import wait_until

NODE_NAME = "chaos"
"""TRT_NODE_NAME of the chaos node: its rows in ``workers``."""
FRESH = "heartbeat_at > now() - interval '5 seconds'"
"""A worker whose heartbeat is this recent is alive (as far as the database knows)."""
MEND_TIMEOUT_S = 60.0
"""How long the parent may take to start a killed worker's slot again (with its backoff)."""
ORPHAN_TIMEOUT_S = 10.0
"""How long a killed parent's workers may outlive it (they should go within ~2 s)."""

_pause = threading.Event()  # never set: its wait() is the pause between two looks

LIVE_WORKERS = (f"SELECT id, slot, pid FROM workers WHERE node = %s AND {FRESH} ORDER BY id")
INTAKE_LEADER = ("SELECT w.id, w.slot, w.pid FROM leases l JOIN workers w ON w.id = l.owner "
                 f"WHERE l.name = 'intake' AND l.expires_at > now() AND w.{FRESH}")


def process_tree() -> dict[int, int]:
    """pid -> parent pid of every process on the machine (``ps``: Linux and macOS)."""
    listing = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True,
                             text=True, check=True).stdout
    tree: dict[int, int] = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 2:
            tree[int(fields[0])] = int(fields[1])
    return tree


def children(parent: int) -> set[int]:
    """The processes ``parent`` started itself: a node's workers."""
    return {pid for pid, ppid in process_tree().items() if ppid == parent}


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (its workers, and anything they started)."""
    tree = process_tree()
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in tree.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """The process runs (a zombie, dead but not yet reaped by whoever adopted it, does not)."""
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                           text=True, check=False).stdout.strip()
    return bool(state) and not state.startswith("Z")


class ChaosNode(NodeProcess):
    """A node the harness may kill; an unexpected exit is restarted (and counted), as the
    service manager would. ``workers`` > 1: ``run --workers N``, named ``NODE_NAME``."""

    crashes = 0

    def __init__(self, database_url: str, kie: KieEmulator, telegram: TelegramEmulator,
                 log_path: Path, *, workers: int = 1, **extra_env: str) -> None:
        # The simulated users order their jobs one after another as fast as the bot accepts
        # them (the full profile: 5 each): the per-user limits of issue 14 (3 in flight, 10
        # confirms a minute) would refuse some, and a refused order is not the faults' doing.
        limits = {"TRT_MAX_JOBS_IN_FLIGHT": "100", "TRT_CONFIRM_RATE_PER_MIN": "1000"}
        super().__init__(database_url, kie, telegram, log_path, TRT_WORKERS=str(workers),
                         TRT_NODE_NAME=NODE_NAME, **{**limits, **extra_env})
        self.workers = workers
        self.orphans: list[int] = []
        """Worker pids still running ``ORPHAN_TIMEOUT_S`` after the node stopped."""

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the node was never started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        if not self.alive():
            self.crashes += 1
            self.start_process()
            return False
        try:
            return requests.get(f"{self.status_url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def start_process(self) -> None:
        command = ["run", "--workers", str(self.workers)] if self.workers > 1 else ["run"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "run_node.py"), *command],
                                     env=self.env, stdout=log, stderr=log, cwd=ROOT)

    def start(self, timeout: float = 45.0) -> ChaosNode:
        self.start_process()
        wait_until(self.ready, timeout, "node /readyz", poll=0.1)
        return self

    def not_ready(self) -> bool:
        try:
            return requests.get(f"{self.status_url}/readyz", timeout=2).status_code != 200
        except requests.RequestException:
            return True

    def stop(self) -> int:
        """Stop the node; its workers must follow (any that do not are killed, and kept in
        ``orphans``)."""
        workers = children(self.pid) if self.alive() and self.workers > 1 else set()
        code = super().stop()
        left = outlive(workers, ORPHAN_TIMEOUT_S)
        self.orphans += sorted(left)
        reap(left)
        return code


class WorkerKiller:
    """The chaos of a several-worker node whose parent process is ``parent()``."""

    def __init__(self, database: str, node: ChaosNode) -> None:
        self.database = database
        self.node = node

    def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        try:
            with psycopg.connect(self.database, row_factory=dict_row, connect_timeout=2) as c:
                return c.execute(sql.encode(), args).fetchall()
        except psycopg.OperationalError:
            return []

    def _ours(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows whose pid is a live process of this node (not a stale row's pid)."""
        mine = descendants(self.node.pid)
        return [row for row in rows if int(row["pid"]) in mine and alive(int(row["pid"]))]

    def live_workers(self) -> list[dict[str, Any]]:
        return self._ours(self._rows(LIVE_WORKERS, NODE_NAME))

    def intake_leader(self) -> dict[str, Any] | None:
        leaders = self._ours(self._rows(INTAKE_LEADER))
        return leaders[0] if leaders else None

    def kill_worker(self, pick: Any) -> dict[str, Any]:
        """SIGKILL one live worker chosen by ``pick`` (``random.choice``); wait until the
        parent has started its slot again."""
        workers = wait_until(self.live_workers, MEND_TIMEOUT_S, "a live worker to kill")
        return self._kill("worker", pick(workers))

    def kill_intake_leader(self) -> dict[str, Any]:
        """SIGKILL the worker holding the intake lease; wait until another worker holds it
        and the parent has started the killed slot again."""
        leader = wait_until(self.intake_leader, MEND_TIMEOUT_S, "an intake leader to kill")
        return self._kill("intake", leader)

    def _kill(self, kind: str, victim: dict[str, Any]) -> dict[str, Any]:
        pid, slot = int(victim["pid"]), victim["slot"]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        record: dict[str, Any] = {"kind": kind, "pid": pid, "slot": slot,
                                  "worker": victim["id"]}
        if kind == "intake":
            def taken_over() -> bool:
                leader = self.intake_leader()
                return leader is not None and leader["id"] != victim["id"]

            wait_until(taken_over, MEND_TIMEOUT_S, "another worker to take the intake over",
                       poll=0.05)
            record["takeover_s"] = round(time.monotonic() - killed, 2)

        def restarted() -> bool:
            return any(w["slot"] == slot and int(w["pid"]) != pid for w in self.live_workers())

        wait_until(restarted, MEND_TIMEOUT_S, f"the parent to restart worker slot {slot}",
                   poll=0.1)
        record["restart_s"] = round(time.monotonic() - killed, 2)
        return record

    def kill_node(self) -> dict[str, Any]:
        """SIGKILL the parent, wait until its workers are gone too (any left after
        ``ORPHAN_TIMEOUT_S`` are killed here, and the record says so), start the node again."""
        parent = self.node.pid
        workers = children(parent) if self.node.workers > 1 else set()
        killed = time.monotonic()
        self.node.kill9()
        left = outlive(workers, ORPHAN_TIMEOUT_S)
        record: dict[str, Any] = {
            "kind": "node", "pid": parent, "workers": sorted(workers), "orphans": sorted(left),
            "workers_gone_s": None if left else round(time.monotonic() - killed, 2)}
        reap(left)
        self.node.start()
        return record


def outlive(pids: set[int], timeout: float) -> set[int]:
    """Those of ``pids`` still running after ``timeout`` s (returns as soon as none is)."""
    deadline = time.monotonic() + timeout
    left = {pid for pid in pids if alive(pid)}
    while left and time.monotonic() < deadline:
        _pause.wait(0.05)
        left = {pid for pid in left if alive(pid)}
    return left


def reap(pids: set[int]) -> None:
    """SIGKILL the node's processes that outlived their parent (the run must not leave a
    second poller behind)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
