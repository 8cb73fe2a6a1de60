"""CPU time for ``trt-node bench``: the whole node's (its process and every process under it),
and who used the machine while a benchmark ran.

The node is a process tree: with ``TRT_WORKERS=1`` the node process and its file transfer
workers (and their fork server); with N workers a parent that only supervises, N worker
processes, and each worker's transfer workers. Every reading is by pid, and a difference of
two readings sums each process's own difference: a process started in between counts from
zero, one that exited in between (a worker restarted mid-benchmark) is left out, so the
total can undercount, never go negative.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import psycopg

if TYPE_CHECKING:
    from tools.bench.env import NodeProc


def cpu_by_pid(procs: list[psutil.Process]) -> dict[int, float]:
    """User + system CPU seconds so far of each process, by pid (one that exited is left out)."""
    times: dict[int, float] = {}
    for proc in procs:
        try:
            cpu = proc.cpu_times()
        except psutil.Error:  # exited meanwhile
            continue
        times[proc.pid] = cpu.user + cpu.system
    return times


def used_since(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process of ``after`` used since ``before`` (a new one: all of its)."""
    return {pid: max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items()}


class NodeCpu:
    """CPU seconds the whole node used since construction: parent, workers, helpers."""

    def __init__(self, node: NodeProc) -> None:
        self.node = node
        self.before = node.cpu_by_pid()
        self.started = time.monotonic()

    def seconds(self) -> float:
        return sum(used_since(self.before, self.node.cpu_by_pid()).values())

    def cores(self) -> float:
        """The node's CPU since construction over the wall time since: in cores."""
        return self.seconds() / max(1e-9, time.monotonic() - self.started)


class CpuSplit:
    """CPU time used between ``start`` and ``note``, by who: the node (its workers, its
    parent when there are several workers, their transfer workers), this process (the
    emulators and the load generator), and PostgreSQL's processes.

    PostgreSQL's are the bench server's postmaster and its children (found through the
    socket directory in the node's ``DATABASE_URL``, which is the embedded server's data
    directory), each counted from its own earlier reading: a total over every ``postgres``
    process on the machine counted other servers and went negative when a backend exited.
    A backend that exits within the window is missed (an undercount, never negative)."""

    def __init__(self, node: NodeProc) -> None:
        self.node = node
        self._postmaster = _postmaster(node.env["DATABASE_URL"])
        self._before = self._now()
        self._started = time.monotonic()

    def _pg(self) -> dict[int, float]:
        if self._postmaster is not None:
            try:
                procs = [self._postmaster, *self._postmaster.children()]
            except psutil.Error:
                procs = []
        else:
            procs = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        return cpu_by_pid(procs)

    def _now(self) -> tuple[float, dict[int, float], dict[int, float]]:
        mine = psutil.Process().cpu_times()
        return mine.user + mine.system, self._pg(), self.node.cpu_by_pid()

    def note(self) -> str:
        wall = max(1e-9, time.monotonic() - self._started)
        (bench0, pg0, node0), (bench1, pg1, node1) = self._before, self._now()
        bench = (bench1 - bench0) / wall
        pg = sum(used_since(pg0, pg1).values()) / wall
        used = {pid: t / wall for pid, t in used_since(node0, node1).items()}
        return (f"CPU in cores: node {sum(used.values()):.2f}{self._node_parts(used)}, "
                f"emulators + load {bench:.2f}, PostgreSQL {pg:.2f}, of {os.cpu_count()}")

    def _node_parts(self, used: dict[int, float]) -> str:
        """The node's share by process: workers (each), parent, transfer workers."""
        parent = self.node.pid
        workers = self.node.worker_pids() if self.node.workers > 1 else [parent]
        helpers = sum(t for pid, t in used.items() if pid != parent and pid not in workers)
        parts = []
        if self.node.workers > 1:
            parts += [f"workers {' + '.join(f'{used.get(p, 0.0):.2f}' for p in workers)}",
                      f"parent {used.get(parent, 0.0):.2f}"]
        if len(used) > len(workers) + (self.node.workers > 1):
            parts.append(f"transfer workers {helpers:.2f}")
        return f" ({', '.join(parts)})" if parts else ""


def _postmaster(database_url: str) -> psutil.Process | None:
    """The postmaster serving ``database_url`` when its socket directory holds its pid file
    (the embedded server); None otherwise."""
    host = str(psycopg.conninfo.conninfo_to_dict(database_url).get("host") or "")
    if not host.startswith("/"):  # a TCP server: no pid file to read
        return None
    try:
        return psutil.Process(int((Path(host) / "postmaster.pid").read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
