"""What every benchmark of ``trt-node bench`` stands on: an embedded PostgreSQL of its own,
the emulated KIE and Telegram in the bench process, the real node as a subprocess, and the
table rows the benchmarks report.

The node runs in its own process (its own GIL), like in production, or as a parent and
``TRT_WORKERS`` worker processes, measured once the workers have split the partitions evenly
and each has its share of the node-wide budgets; the emulators and the load generator share
the bench process (CPU time by process: :mod:`tools.bench.cpu`). Timestamps that cross the
processes are wall clock (``time.time()``), the same clock on one machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests
from psycopg.rows import dict_row

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tools.bench.cpu import cpu_by_pid
from tools.bench.node import OVERRIDES_ENV
from trt_actors import PARTITIONS, LeasePolicy
from trt_actors.infra.embedded_pg import EmbeddedPostgres
from trt_actors.infra.migrations import migrate

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "777000:bench-telegram-token-abcdef"
KIE_KEY = "bench-kie-key-0123456789"
pause = threading.Event()
"""Never set: ``pause.wait(s)`` is a sleep that reads as "look again after s"."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the bench table."""

    test: str
    """P1..P6."""
    metric: str
    value: str
    target: str = ""
    met: bool | None = None
    """None: informational (no target of its own)."""
    note: str = ""
    missed: str = ""
    """By how much a missed target was missed (shown beside "no")."""


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll ``predicate`` until truthy (returned); raise TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        pause.wait(poll)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any half-open window ``[t, t + window)``."""
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SETTLE_S = 1.0
"""How long every worker of a node has run before a benchmark starts measuring, past a lease
round: the partitions are balanced and every worker has beaten its heartbeat (the workers of
one node take their share of the node-wide budgets from the start: ``Leases.expected``)."""
_LIVE = (b"SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - max(started_at))::float8 AS age "
         b"FROM workers WHERE heartbeat_at > now() - interval '5 seconds'")
_LEASED = (b"SELECT owner, count(*) AS n FROM leases WHERE name LIKE 'part:%' "
           b"AND expires_at > now() GROUP BY owner")


class NodeProc:
    """The real node (``run_node.py run`` via :mod:`tools.bench.node`) as a subprocess."""

    def __init__(self, database_url: str, kie: KieEmulator, telegram: TelegramEmulator,
                 log_path: Path, overrides: dict[str, Any] | None = None, *,
                 profile: Path | None = None, settle: float = SETTLE_S, **env: str) -> None:
        self.callback_port, self.status_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TRT_TELEGRAM_TOKEN": TOKEN, "TRT_TELEGRAM_API_URL": telegram.url,
            "TRT_KIE_API_KEY": KIE_KEY, "TRT_KIE_API_URL": kie.url,
            "TRT_PUBLIC_CALLBACK_URL": f"http://127.0.0.1:{self.callback_port}",
            "TRT_CALLBACK_LISTEN": f"127.0.0.1:{self.callback_port}",
            "TRT_STATUS_LISTEN": f"127.0.0.1:{self.status_port}",
            "TRT_LOG_LEVEL": "INFO", OVERRIDES_ENV: json.dumps(overrides or {}),
            "TRT_WORKERS": "1",  # one process unless the caller passes TRT_WORKERS
            **env,
        }
        self.workers = int(self.env["TRT_WORKERS"])
        """Worker processes: with more than one, a parent supervises them."""
        self.settle = settle + LeasePolicy().interval
        """Seconds every worker has run when :meth:`start` returns (``TRT_WORKERS`` > 1)."""
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.spy: subprocess.Popen[bytes] | None = None
        self.profile: Path | None = profile
        self.exec_at = 0.0
        self.http = requests.Session()

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:{self.status_port}"

    @property
    def callback_url(self) -> str:
        return f"http://127.0.0.1:{self.callback_port}"

    def spawn(self) -> NodeProc:
        """Start the process; return at once (``exec_at`` is the wall time of the exec)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.exec_at = time.time()
        self.proc = subprocess.Popen([sys.executable, "-m", "tools.bench.node"],
                                     env=self.env, stdout=log, stderr=log, cwd=ROOT)
        return self

    def start(self, timeout: float = 60.0) -> NodeProc:
        self.spawn()
        wait_for(self.ready, timeout, "node /readyz", poll=0.02)
        if self.workers > 1:
            wait_for(self.balanced, timeout, f"the partitions split among {self.workers} "
                     "workers", poll=0.1)
            wait_for(self.settled, timeout, f"{self.workers} workers up for "
                     f"{self.settle:.1f} s", poll=0.1)
        if self.profile is not None:
            self._profile(self.profile)
        return self

    def _profile(self, out: Path) -> None:
        """Sample the node with py-spy until it exits (collapsed stacks, one file per run)."""
        assert self.proc is not None
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{self.log_path.stem}-{self.proc.pid}.txt"
        self.spy = subprocess.Popen(
            [spy, "record", "--pid", str(self.proc.pid), "--rate", "200", "--threads", "--gil",
             "--format", "raw", "--output", str(target), "--nonblocking",
             *(["--subprocesses"] if self.workers > 1 else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"node exited with {self.proc.returncode}: {tail}")
        try:
            return self.http.get(f"{self.status_url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def balanced(self) -> bool:
        """Every partition leased, live, and split evenly: one owner per worker, none holding
        more than its fair share (a node is ready before the newest worker has its share).
        """
        assert self.proc is not None
        if self.proc.poll() is not None:
            return self.ready()  # raises with the log's tail
        with connect(self.env["DATABASE_URL"]) as conn:
            held = [int(r["n"]) for r in conn.execute(_LEASED).fetchall()]
        return (len(held) == self.workers and sum(held) == PARTITIONS
                and max(held) <= -(-PARTITIONS // self.workers))

    def settled(self) -> bool:
        """Every worker has run ``settle`` seconds: each has its share of the budgets."""
        with connect(self.env["DATABASE_URL"]) as conn:
            row = conn.execute(_LIVE).fetchone()
        return (row is not None and int(row["n"]) == self.workers
                and float(row["age"] or 0.0) >= self.settle)

    def status(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.status_url}/status", timeout=30).json())

    def process(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        """The worker processes: the parent's children (``TRT_WORKERS`` > 1), else the node."""
        if self.workers == 1:
            return [self.pid]
        try:
            return sorted(child.pid for child in self.process().children())
        except psutil.Error:
            return []

    def cpu_by_pid(self) -> dict[int, float]:
        """CPU seconds so far of every process of the node (it and every process under it:
        workers, their file transfer workers and fork servers), by pid."""
        try:
            tree = [self.process(), *self.process().children(recursive=True)]
        except psutil.Error:
            return {}
        return cpu_by_pid(tree)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.spy is not None:  # py-spy writes its file when the process it samples ends
            self.spy.wait(30)
            self.spy = None


class BenchEnv:
    """One embedded PostgreSQL for the whole run; a fresh database per benchmark."""

    def __init__(self, workdir: Path | None = None, profile: Path | None = None) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="trt-bench-"))
        self.profile = profile
        """py-spy samples of every node process go here (None: no profiling)."""
        self.pg = EmbeddedPostgres(self.workdir / "pg")
        self._databases = 0

    def start(self) -> BenchEnv:
        self.pg.start()
        return self

    def close(self) -> None:
        self.pg.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def server_version(self) -> str:
        with psycopg.connect(self.pg.uri("postgres"), autocommit=True) as conn:
            row = conn.execute(b"SHOW server_version").fetchone()
        return f"PostgreSQL {row[0] if row else '?'}"

    def database(self, name: str) -> str:
        """A new, migrated database; its conninfo."""
        self._databases += 1
        db = f"bench_{name}_{self._databases}"
        with psycopg.connect(self.pg.uri("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"'.encode())
        url = self.pg.uri(db)
        migrate(url)
        return url

    @contextmanager
    def emulators(self, *, kie: dict[str, Any], telegram: dict[str, Any],
                  kie_faults: dict[str, Any] | None = None,
                  ) -> Iterator[tuple[KieEmulator, TelegramEmulator]]:
        k = KieEmulator(KIE_KEY, **kie).start()
        if kie_faults:
            k.set_faults(kie_faults)
        t = TelegramEmulator(TOKEN, **telegram).start()
        try:
            yield k, t
        finally:
            t.stop()
            k.stop()

    @contextmanager
    def node(self, database_url: str, kie: KieEmulator, telegram: TelegramEmulator,
             name: str, overrides: dict[str, Any] | None = None, *, settle: float = SETTLE_S,
             **env: str) -> Iterator[NodeProc]:
        node = self.node_proc(database_url, kie, telegram, name, overrides, settle=settle,
                              **env)
        try:
            yield node.start()
        finally:
            node.stop()

    def node_proc(self, database_url: str, kie: KieEmulator, telegram: TelegramEmulator,
                  name: str, overrides: dict[str, Any] | None = None, *,
                  settle: float = SETTLE_S, **env: str) -> NodeProc:
        return NodeProc(database_url, kie, telegram, self.workdir / f"node-{name}.log",
                        overrides, profile=self.profile, settle=settle, **env)

    def pgbench(self, clients: int, seconds: int) -> float:
        """PostgreSQL's own commit rate (tps) for ``clients`` connections running a small
        write transaction (one UPDATE and one INSERT), in a database of its own (same
        server)."""
        db = self.database("pgbench")
        exe = str(self.pg.bin_dir / "pgbench")
        script = self.workdir / "write.sql"
        script.write_text(
            "\\set aid random(1, 100000)\n\\set delta random(-5000, 5000)\n"
            "BEGIN;\n"
            "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n"
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)"
            " VALUES (1, 1, :aid, :delta, CURRENT_TIMESTAMP);\n"
            "END;\n")
        subprocess.run([exe, "-i", "-q", "-s", "1", db], check=True, capture_output=True)
        threads = max(1, min(clients, os.cpu_count() or 1))
        done = subprocess.run(
            [exe, "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds),
             "-f", str(script), db], check=True, capture_output=True, text=True)
        for line in done.stdout.splitlines():
            if line.startswith("tps = "):
                return float(line.split()[2])
        raise RuntimeError(f"pgbench printed no tps: {done.stdout[-500:]}")


def load_note() -> str:
    """The machine's load average: other work on it shows up in every number."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def connect(database_url: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(database_url, autocommit=True, row_factory=dict_row)


def count(database_url: str, sql: bytes, **params: Any) -> int:
    """The ``n`` of a one-row query (``SELECT count(*) AS n ...``); 0 for no row."""
    with connect(database_url) as conn:
        row = conn.execute(sql, params or None).fetchone()
    return int(row["n"]) if row else 0


def next_xid(database_url: str) -> int:
    """The next transaction id PostgreSQL will hand out: the difference between two readings
    is the number of write transactions in between (read-only ones get no id)."""
    with connect(database_url) as conn:
        row = conn.execute(
            b"SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x").fetchone()
    assert row is not None
    return int(row["x"])
