"""P1's baseline: the plain python-telegram-bot bot of :mod:`tools.bench.plain_bot` (no
database, no durability, no actors) making the node's Bot API calls per job, against a
Telegram emulator configured as P1's, driven the same way (every user sends ``/gen``, then
every user presses the confirm button once; the clock runs from the first press until the
last result is in the emulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil

from sandbox.telegram_emulator import TelegramEmulator
from tools.bench.cost import bot_api_calls, per_method
from tools.bench.env import ROOT, TOKEN, BenchEnv, Row, load_note, wait_for
from tools.bench.plain_bot import DEFAULT_PLAN, PLAN_ENV

ORDER = ("answerCallbackQuery", "sendMessage", "editMessageText", "sendPhoto")
"""The order of a job's calls in the node: the answer, the progress message, its edits, the
result."""
BASELINE = "P1 baseline: plain PTB bot, same Bot API calls, no database"


def plan_of(calls: Counter[str], jobs: int) -> tuple[str, ...]:
    """The baseline's calls per job: each of the node's methods, as many times per job as
    the node made it (rounded); the default plan when the node's calls are unknown."""
    if not jobs or not calls:
        return DEFAULT_PLAN
    return tuple(m for m in ORDER for _ in range(round(calls.get(m, 0) / jobs)))


@dataclass(frozen=True, slots=True)
class Baseline:
    jobs_per_s: float
    cpu_ms: float
    calls: float
    plan: tuple[str, ...]
    note: str


def _screen(telegram: TelegramEmulator, user: int) -> tuple[int, str] | None:
    for message in reversed(telegram.messages(user)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        if rows:
            return int(message["message_id"]), str(rows[0][0]["callback_data"])
    return None


def run_baseline(env: BenchEnv, n: int, plan: tuple[str, ...], first_user: int) -> Baseline:
    """``n`` jobs through the plain bot; its rate, CPU per job and calls per job."""
    log_path = env.workdir / "plain-bot.log"
    with env.emulators(kie={"duration_s": 0}, telegram={"flood_limits": False}) as (_, telegram), \
            open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.bench.plain_bot"], cwd=ROOT, stdout=log, stderr=log,
            env={**os.environ, "TRT_TELEGRAM_TOKEN": TOKEN, "TRT_TELEGRAM_API_URL": telegram.url,
                 PLAN_ENV: json.dumps(list(plan))})
        try:
            return _drive(telegram, proc, n, plan, first_user, log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _drive(telegram: TelegramEmulator, proc: subprocess.Popen[bytes], n: int,
           plan: tuple[str, ...], first_user: int, log_path: Path) -> Baseline:
    def alive() -> None:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the plain bot exited with {proc.returncode}: {tail}")

    telegram.wait_for_poll(30)
    users = range(first_user, first_user + n)
    for user in users:
        telegram.send_text(user, f'/gen bench prompt="bench picture {user}"')
    screens: dict[int, tuple[int, str]] = {}

    def all_screens() -> bool:
        alive()
        for user in users:
            if user not in screens and (found := _screen(telegram, user)):
                screens[user] = found
        return len(screens) == n

    wait_for(all_screens, 60 + n / 5, "every baseline confirm screen", poll=0.2)
    bot = psutil.Process(proc.pid)
    calls_before = bot_api_calls(telegram)
    cpu_before, started = _cpu(bot), time.time()
    for user, (message_id, data) in screens.items():
        telegram.press_button(user, message_id, data)

    def all_results() -> bool:
        alive()
        return bot_api_calls(telegram)["sendPhoto"] - calls_before["sendPhoto"] >= n

    wait_for(all_results, 120 + n, "every baseline result", 0.05)
    cpu = _cpu(bot) - cpu_before
    calls = per_method(calls_before, bot_api_calls(telegram))
    finished = max(float(m["sent_at"]) for user in users for m in telegram.messages(user)
                   if m.get("media"))
    elapsed = max(1e-9, finished - started)
    note = (f"{n} jobs in {elapsed:.1f} s; calls per job: {', '.join(plan)}; the bot "
            f"process used {cpu / (time.time() - started):.0%} of one core; {load_note()}")
    return Baseline(n / elapsed, cpu * 1000 / n, sum(calls.values()) / n, plan, note)


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True, slots=True)
class NodeRun:
    """One P1 run of the node, as set against the baseline."""

    workers: int
    jobs_per_s: float
    cpu_ms: float
    """CPU ms per job of the whole node (every process of it)."""
    writes: float
    """Write transactions per job."""
    commits: float
    """All commits per job (``xact_commit``: read-only transactions too)."""
    calls: float
    """Bot API calls per job."""


SPEED_TARGET, COST_TARGET = 1.0, 2.0
"""P1's jobs/s at least this many times the baseline's; its CPU per job at most this many."""


def rows(base: Baseline, runs: list[NodeRun], notes: dict[int, str]) -> list[Row]:
    """The baseline's rows, then one row per worker count: P1's jobs/s and CPU per job as
    ratios to the baseline's (with targets), its commits and Bot API calls per job."""
    out = [
        Row("P1", f"{BASELINE}: jobs/s", f"{base.jobs_per_s:.1f}", note=base.note),
        Row("P1", f"{BASELINE}: CPU ms per job", f"{base.cpu_ms:.1f}"),
    ]
    for run in runs:
        speed, cost = run.jobs_per_s / base.jobs_per_s, run.cpu_ms / base.cpu_ms
        missed = [*([f"jobs/s {SPEED_TARGET - speed:.2f}×"] if speed < SPEED_TARGET else []),
                  *([f"CPU {cost - COST_TARGET:.2f}×"] if cost > COST_TARGET else [])]
        out.append(Row(
            "P1", f"workers = {run.workers}: jobs/s (× baseline); CPU ms per job (× baseline);"
                  " commits per job (writes / all); Bot API calls per job",
            f"{run.jobs_per_s:.1f} ({speed:.2f}×); {run.cpu_ms:.1f} ({cost:.2f}×); "
            f"{run.writes:.1f} / {run.commits:.1f}; {run.calls:.2f}",
            f"≥ {SPEED_TARGET:.1f}×; ≤ {COST_TARGET:.0f}×", not missed,
            note=notes.get(run.workers, ""), missed=", ".join(missed)))
    return out
