"""``trt-node run --workers 2``: one parent process supervising two worker processes.

What an operator sees from outside: the node answers /readyz, both workers listen on the
same status and callback ports, a worker killed with ``kill -9`` comes back under a new pid,
SIGTERM to the parent stops everything with exit 0, and a ``kill -9`` of the parent leaves no
worker running. What happens inside the workers (leases, intake leadership) is not asserted
here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import ROOT, NodeProcess, wait_until

pytestmark = pytest.mark.acceptance


class Workers(NodeProcess):
    """``run_node.py run --workers N``; ``proc`` is the parent. The harness's environment says
    TRT_WORKERS=1: the flag overrides it."""

    count = 2

    def start(self, timeout: float = 60.0) -> Workers:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run_node.py"), "run", "--workers", str(self.count)],
            env=self.env, stdout=log, stderr=log, cwd=ROOT)
        wait_until(self.ready, timeout, "node /readyz")
        return self

    def workers(self) -> dict[int, int]:
        """Slot → pid of the parent's live worker processes, found in /proc."""
        assert self.proc is not None
        found = {}
        for pid in children(self.proc.pid):
            slot = worker_slot(pid)
            if slot is not None and alive(pid):
                found[slot] = pid
        return found


def children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):  # the thread or the process ended meanwhile
            pids += [int(child) for child in task.read_text().split()]
    return pids


def worker_slot(pid: int) -> int | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"TRT_WORKER_SLOT="):
            return int(item.partition(b"=")[2])
    return None


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def listening_ports(pid: int) -> set[int]:
    """The TCP ports ``pid`` has a listening socket on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for fields in (line.split() for line in lines):
            if fields[3] == "0A" and fields[9] in inodes:  # state LISTEN
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def two_workers(node: Workers) -> dict[int, int]:
    def both() -> dict[int, int] | None:
        found = node.workers()
        return found if len(found) == 2 else None

    return wait_until(both, 20, "two worker processes")


def replaced(node: Workers, slot: int, old: int) -> dict[int, int] | None:
    """The workers once ``slot`` runs again under a pid other than ``old``."""
    found = node.workers()
    return found if found.get(slot) not in (None, old) else None


def serving(node: Workers, pid: int) -> bool:
    return {node.status_port, node.callback_port} <= listening_ports(pid)


def test_two_workers_share_the_ports_survive_a_kill9_and_stop_on_sigterm(
    database: str, kie: KieEmulator, telegram: TelegramEmulator, tmp_path: Path,
) -> None:
    node = Workers(database, kie, telegram, tmp_path / "node.log")
    try:
        node.start()
        first = two_workers(node)
        assert sorted(first) == [0, 1]
        for slot in (0, 1):
            wait_until(partial(serving, node, first[slot]), 30,
                       f"worker {slot} to listen on the status and callback ports")

        os.kill(first[1], signal.SIGKILL)
        again = wait_until(lambda: replaced(node, 1, first[1]), 30,
                           "slot 1 to run again under a new pid")
        assert again[0] == first[0], "the other worker is left alone"
        wait_until(lambda: serving(node, again[1]), 30, "the new worker to listen again")
        # its partitions and singletons come back to a live worker within a lease (3.5 s)
        wait_until(node.ready, 15, "/readyz again: every partition held by a live worker")
        assert f"slot 1 (pid {first[1]}) exited with signal SIGKILL; restarting in" in node.log()
        assert f"slot 1 started, pid {again[1]}" in node.log()
    finally:
        code, log = node.finish()
    assert code == 0, log[-3000:]
    assert not any(alive(pid) for pid in (*first.values(), again[1])), "a worker outlived SIGTERM"
    assert "embedded PostgreSQL" not in log, "DATABASE_URL is set: no embedded server"


def test_a_kill9_of_the_parent_leaves_no_worker(
    database: str, kie: KieEmulator, telegram: TelegramEmulator, tmp_path: Path,
) -> None:
    node = Workers(database, kie, telegram, tmp_path / "node.log")
    try:
        node.start()
        pids = two_workers(node)
        node.kill9()
        killed = time.monotonic()
        wait_until(lambda: not any(alive(pid) for pid in pids.values()), 3.0,
                   "every worker to end after its parent's kill -9")
        assert time.monotonic() - killed < 3.0
    finally:
        node.finish()
    assert "the parent process (pid" in node.log()


def test_the_parent_starts_and_stops_the_embedded_postgres(
    kie: KieEmulator, telegram: TelegramEmulator, tmp_path: Path,
) -> None:
    node = Workers("", kie, telegram, tmp_path / "node.log",
                   TRT_DATA_DIR=str(tmp_path / "data"))
    del node.env["DATABASE_URL"]
    node.start(timeout=90.0)
    two_workers(node)
    code, log = node.finish()
    assert code == 0, log[-3000:]
    assert log.count("embedded PostgreSQL ready") == 1, "only the parent starts the server"
    assert "embedded PostgreSQL stopped" in log
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()


def test_the_parent_refuses_a_rejected_token_before_any_worker(
    database: str, kie: KieEmulator, telegram: TelegramEmulator, tmp_path: Path,
) -> None:
    node = Workers(database, kie, telegram, tmp_path / "node.log",
                   TRT_TELEGRAM_TOKEN="999999:not-the-emulators-token-at-all")
    with pytest.raises(AssertionError, match="node exited with 2"):
        node.start()
    log = node.log()
    assert "trt-node: TRT_TELEGRAM_TOKEN: Telegram rejected this token" in log
    assert "slot 0 started" not in log
