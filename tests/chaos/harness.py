"""The chaos harness: the real node as a subprocess, emulated KIE and Telegram, a fault profile.

``ChaosRun(profile, ...).run()`` starts the emulators and the node, drives simulated users
through ``/gen <model> ...`` and the confirm button, injects the profile's chaos (``kill -9``
of the node, or with several worker processes of a random worker, of the intake leader or of
the whole node: :mod:`tests.chaos.node`; a PostgreSQL outage, forged callbacks, KIE and
Telegram faults) while they do, waits until the database says every job has ended, asks
every user for ``/balance`` and returns an ``Outcome`` that :mod:`tests.chaos.invariants`
checks. The harness only observes the node from outside: the database, what the emulators
saw, ``/status``, the process table and the log.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg.rows import dict_row

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import KIE_KEY, TOKEN
from tests.chaos import flood
from tests.chaos.flood import FloodResult
from tests.chaos.node import ChaosNode, WorkerKiller
from tests.support.kie_harness import SourceAddressAdapter
from tests.support.waiting import wait_until
from trt_actors.infra.embedded_pg import EmbeddedPostgres

FIRST_USER = 10_000
FORGED_HOST = "forged.invalid"
"""Result URLs of forged callbacks point here; no job may ever carry or send one."""

# (model id, arguments with {n} for a unique prompt); prices 2+2+3+0+6 = 13 per round of
# five, so a user with the 20 welcome credits can confirm any five in a row.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("google/nano-banana", 'prompt="chaos picture {n}"'),
    ("grok-imagine/text-to-image", 'prompt="chaos scene {n}" aspect_ratio=3:2'),
    ("elevenlabs/text-to-speech-turbo-2-5", 'text="chaos line {n}" voice=Rachel'),
    ("z-image", 'prompt="chaos photo {n}" aspect_ratio=16:9'),
    ("V5", 'prompt="a calm song number {n}" customMode=false instrumental=false'),
)

def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.1) -> Any:
    """Poll ``predicate`` until truthy (returned) or fail at the deadline."""
    return wait_until(predicate, timeout, what, poll=poll)


@dataclass(frozen=True)
class Profile:
    """One fault profile: how many users and jobs, and which chaos to inject."""

    name: str
    users: int
    jobs_per_user: int = 1
    kills: int = 0
    pg_outages: int = 0
    kie_faults: dict[str, Any] | None = None
    telegram_faults: tuple[dict[str, Any], ...] = ()
    blocked_users: int = 0
    cancel_every: int = 4
    """Every n-th user sends /cancel right after pressing confirm (a race with the job
    actor's submit, won by one or the other); 0: nobody cancels."""
    forge: bool = True
    flood: int = 0
    """Abusive callbacks flooded at the gateway while users order (``tests.chaos.flood``):
    this many orphans for unknown jobs and half as many forgeries; 0: no flood."""
    kie_duration: float = 1.0
    user_threads: int = 8
    """Simulated users ordering at once."""
    workers: int = 1
    """The node's worker processes (``run --workers N``); 1: the node in one process. With
    more, each kill is of a random worker, of the intake leader or of the whole node."""
    settle_timeout: float = 120.0
    seed: int = 1

    @property
    def jobs(self) -> int:
        return self.users * self.jobs_per_user


@dataclass
class Outcome:
    """What one run observed; the invariants are checked on this."""

    profile: Profile
    database: str
    kie: KieEmulator
    telegram: TelegramEmulator
    users: list[int]
    pressed: int = 0
    kills: int = 0
    kill_log: list[dict[str, Any]] = field(default_factory=list)
    """One record a kill: kind (node | worker | intake), pid, at (s), how long mending took."""
    crashes: int = 0
    pg_outages: int = 0
    forged: list[dict[str, Any]] = field(default_factory=list)
    flood: FloodResult | None = None
    blocked: list[int] = field(default_factory=list)
    balances_shown: dict[int, int | None] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    kie_stats: dict[str, Any] = field(default_factory=dict)
    telegram_stats: dict[str, Any] = field(default_factory=dict)
    poll_overlaps: int = 0
    """getUpdates of the bot that came while another was in flight (the emulator's count)."""
    orphans: list[int] = field(default_factory=list)
    """Worker pids that outlived the node's stop."""
    log: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def query(self, sql: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.database, row_factory=dict_row) as conn:
            return conn.execute(sql.encode()).fetchall()


class ChaosRun:
    """One run of one profile. ``database`` is a migrated database's conninfo; ``embedded``
    is the server it lives on when the profile stops PostgreSQL."""

    def __init__(self, profile: Profile, database: str, tmp: Path,
                 embedded: EmbeddedPostgres | None = None) -> None:
        self.p = profile
        self.rng = random.Random(profile.seed)
        self.database = database
        self.embedded = embedded
        self.tmp = tmp
        self.lock = threading.Lock()
        self.pressed = 0
        self.errors: list[str] = []

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Outcome:
        p = self.p
        started = time.monotonic()
        with KieEmulator(KIE_KEY, duration_s=p.kie_duration, rate_limits=False,
                         seed=p.seed) as kie, \
                TelegramEmulator(TOKEN, flood_limits=True, seed=p.seed) as telegram:
            if p.kie_faults:
                kie.set_faults(p.kie_faults)
            for fault in p.telegram_faults:
                telegram.add_fault(**fault)
            node = ChaosNode(self.database, kie, telegram, self.tmp / "node.log",
                             workers=p.workers, TRT_LOG_LEVEL="INFO",
                             **(flood.ENV if p.flood else {}))
            users = [FIRST_USER + i for i in range(p.users)]
            out = Outcome(p, self.database, kie, telegram, users)
            node.start()
            try:
                self._drive_with_chaos(node, kie, telegram, users, out)
                out.timings["drive_s"] = time.monotonic() - started
                self._settle(node, out)
                out.timings["settle_s"] = time.monotonic() - started
                telegram.clear_faults()
                kie.clear_faults()
                self._ask_balances(node, telegram, out)
                out.status = node.status()
                out.messages = {u: telegram.messages(u) for u in users}
                out.kie_stats = kie.stats()
                out.telegram_stats = telegram.stats()
            finally:
                out.crashes = node.crashes
                node.stop()
                out.orphans = node.orphans
                out.poll_overlaps = telegram.poll_overlaps(TOKEN)
                out.log = node.log()
        out.pressed = self.pressed
        out.timings["total_s"] = time.monotonic() - started
        assert not self.errors, f"the simulated users got stuck: {self.errors[:5]}"
        return out

    def _drive_with_chaos(self, node: ChaosNode, kie: KieEmulator, telegram: TelegramEmulator,
                          users: list[int], out: Outcome) -> None:
        p = self.p
        done = threading.Event()
        blocked = set(users[:p.blocked_users])
        out.blocked = sorted(blocked)

        def user_flow(user: int) -> None:
            for round_ in range(p.jobs_per_user):
                n = (user - FIRST_USER) * p.jobs_per_user + round_
                model, args = COMMANDS[n % len(COMMANDS)]
                cancel = p.cancel_every > 0 and (user - FIRST_USER) % p.cancel_every == 1
                try:
                    self._confirm(node, telegram, user, f"/gen {model} {args.format(n=n)}",
                                  round_, cancel=cancel)
                except AssertionError as exc:
                    with self.lock:
                        self.errors.append(f"user {user}: {exc}")
                    return
            if user in blocked:  # after confirming: the result can no longer be delivered
                telegram.block_user(user)

        pool = ThreadPoolExecutor(p.user_threads, thread_name_prefix="chaos-user")
        futures = [pool.submit(user_flow, u) for u in users]
        pool.shutdown(wait=False)
        flooding = flood.Flood(node.callback_port, self.database, p.flood, FORGED_HOST,
                               p.seed).start() if p.flood else None
        # Spread the chaos over the busy part of the run: while users confirm and jobs run.
        expected = max(8.0, p.jobs / 4.0)
        moments = sorted(self.rng.uniform(1.0, expected) for _ in range(p.kills + p.pg_outages))
        kinds = ["kill"] * p.kills + ["pg"] * p.pg_outages
        self.rng.shuffle(kinds)
        victims = self._victims()
        killer = WorkerKiller(self.database, node)
        forge_at = {len(moments) // 2} if p.forge else set()
        t0 = time.monotonic()
        for i, (at, kind) in enumerate(zip(moments, kinds, strict=True)):
            if i in forge_at:
                out.forged += self._forge(node)
            done.wait(max(0.0, t0 + at - time.monotonic()))  # the chaos schedule, not a sync
            if kind == "kill":
                at = round(time.monotonic() - t0, 1)
                victim = next(victims)
                record = (killer.kill_node() if victim == "node" else
                          killer.kill_intake_leader() if victim == "intake" else
                          killer.kill_worker(self.rng.choice))
                out.kill_log.append({**record, "at": at})
                out.kills += 1
            else:
                self._pg_outage(node)
                out.pg_outages += 1
        for future in futures:
            future.result()
        if flooding is not None:
            out.flood = flooding.join()
        if p.forge:
            out.forged += self._forge(node)
        done.set()

    def _victims(self) -> Iterator[str]:
        """What each kill of the profile kills: the node; with several workers each of a
        worker, the intake leader and the node once (as far as the kills go), then at random."""
        if self.p.workers == 1:
            return iter(["node"] * self.p.kills)
        choices = ("worker", "intake", "node")
        victims = list(choices[:self.p.kills]) + [
            self.rng.choice(choices) for _ in range(self.p.kills - len(choices))]
        self.rng.shuffle(victims)
        return iter(victims)

    def _confirm(self, node: ChaosNode, telegram: TelegramEmulator, user: int,
                 command: str, round_: int, *, cancel: bool = False) -> None:
        before = len(telegram.messages(user))
        telegram.send_text(user, command)

        def confirm_screen() -> dict[str, Any] | None:
            for message in telegram.messages(user)[before:]:
                rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
                # (not an earlier result's "next step" buttons: they come from no screen)
                if rows and rows[0] and not str(rows[0][0].get("callback_data")).startswith(
                        ("next:", "again:")):
                    return message
            return None

        screen = wait_for(confirm_screen, 90, f"the confirm screen of {command!r}")
        first = screen["reply_markup"]["inline_keyboard"][0][0]
        telegram.press_button(user, screen["message_id"], first["callback_data"])
        with self.lock:
            self.pressed += 1
        if cancel:  # changed their mind at once: often in the same getUpdates batch
            telegram.send_text(user, "/cancel")
        # A person waits for "accepted" before the next order: the job row is the fact.
        wait_for(lambda: self._jobs_of(user) > round_, 90, f"the job of {command!r}")

    def _jobs_of(self, user: int) -> int:
        try:
            with psycopg.connect(self.database, connect_timeout=2) as conn:
                row = conn.execute(b"SELECT count(*) FROM jobs WHERE user_id = %s",
                                   (user,)).fetchone()
        except psycopg.OperationalError:  # the PostgreSQL outage of the pg profile
            return -1
        return int(row[0]) if row else 0

    # --- chaos actions ------------------------------------------------------------------------

    def _forge(self, node: ChaosNode) -> list[dict[str, Any]]:
        """Forged SUCCESS callbacks with fake result URLs: wrong secrets for real jobs, no
        secret, a job id from the future, no token at all. Each answer is recorded."""
        try:
            with psycopg.connect(self.database, row_factory=dict_row, connect_timeout=2) as c:
                jobs = c.execute(b"SELECT j.id, j.callback_token, min(t.task_id) AS task "
                                 b"FROM jobs j LEFT JOIN kie_tasks t ON t.job_id = j.id "
                                 b"GROUP BY j.id ORDER BY j.id DESC LIMIT 12").fetchall()
        except psycopg.OperationalError:
            return []
        base = f"http://127.0.0.1:{node.callback_port}/kie/callback"
        top = max((j["id"] for j in jobs), default=0)
        attempts: list[tuple[str, str, int | None, str]] = []
        for job in jobs:
            wrong = "F" * 31 + ("G" if job["callback_token"][-1:] != "G" else "H")
            task = job["task"] or "none"
            attempts.append(("wrong_secret", f"{base}/{job['id']}.{wrong}", job["id"], task))
            attempts.append(("no_secret", f"{base}/{job['id']}", job["id"], task))
        attempts.append(("future_job", f"{base}/{top + 3}.{'Q' * 32}", top + 3, "f" * 32))
        attempts.append(("no_token", base, None,
                         jobs[0]["task"] if jobs and jobs[0]["task"] else "x"))
        forged = []
        for i, (kind, url, job_id, task) in enumerate(attempts):
            body = {"code": 200, "msg": "success", "data": {
                "taskId": task, "state": "success", "model": "google/nano-banana",
                "resultJson": f'{{"resultUrls": ["https://{FORGED_HOST}/{job_id}.png"]}}'}}
            try:
                # Each from an address of its own (not the emulator's 127.0.0.1): none comes
                # near the per-source limit, so every one is authenticated and refused.
                with requests.Session() as session:
                    session.mount("http://", SourceAddressAdapter(f"127.0.1.{i % 250 + 1}"))
                    status: int | None = session.post(url, json=body, timeout=5).status_code
            except requests.RequestException:
                status = None  # the node was down (a kill): nothing could have changed
            forged.append({"kind": kind, "job_id": job_id, "status": status})
        return forged

    def _pg_outage(self, node: ChaosNode) -> None:
        """Stop PostgreSQL, hold it down until the node has noticed, start it again."""
        assert self.embedded is not None, "a PostgreSQL outage needs the embedded server"
        self.embedded.stop()
        wait_for(node.not_ready, 30, "the node to notice the database is down")
        self.embedded.restart()
        wait_for(node.ready, 60, "the node to be ready after the database came back")

    # --- the end ------------------------------------------------------------------------------

    def _settle(self, node: ChaosNode, out: Outcome) -> None:
        """Wait until every job has ended and nothing is left in the inbox or the outbox."""
        def settled() -> bool:
            node.alive() or node.ready()
            rows = out.query(
                "SELECT (SELECT count(*) FROM jobs WHERE state NOT IN ('delivered','failed')) "
                "+ (SELECT count(*) FROM callback_inbox WHERE status IN ('pending','claimed')) "
                "+ (SELECT count(*) FROM outbox WHERE status IN ('pending','sending')) AS n")
            return rows[0]["n"] == 0

        try:
            wait_for(settled, self.p.settle_timeout, "every job, callback and message to settle",
                     poll=0.25)
        except AssertionError as exc:
            open_jobs = out.query(
                "SELECT id, state::text, failure, submit_attempts, submit_outcome FROM jobs "
                "WHERE state NOT IN ('delivered','failed') ORDER BY id LIMIT 10")
            raise AssertionError(f"{exc}; still open: {open_jobs}") from None

    def _ask_balances(self, node: ChaosNode, telegram: TelegramEmulator, out: Outcome) -> None:
        """Every user sends /balance; the number the bot shows is recorded."""
        import re

        for user in out.blocked:
            telegram.block_user(user, blocked=False)
        before = {u: len(telegram.messages(u)) for u in out.users}
        for user in out.users:
            telegram.send_text(user, "/balance")
        pattern = re.compile(r"balance: (\d+) credit")

        def shown(user: int) -> int | None:
            for message in telegram.messages(user)[before[user]:]:
                found = pattern.search(message.get("plain_text") or "")
                if found:
                    return int(found[1])
            return None

        for user in out.users:
            out.balances_shown[user] = wait_for(partial(shown, user), 60,
                                                f"/balance of user {user}")
