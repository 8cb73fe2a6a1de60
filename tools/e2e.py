"""``trt-node e2e``: every free model, end to end, N times; a STABLE/UNSTABLE/FAILED report.

    trt-node e2e [--models a,b] [--runs N] [--chat-id ID] [--out DIR] [--timeout S] [--sandbox]

Each run orders one generation with the model's catalog example (real URLs, never base64)
and follows it through the real pipeline — confirm, createTask, callback or poll, delivery —
to a delivered Telegram message. Per model: STABLE (every run delivered), UNSTABLE (some),
FAILED (none), the time from confirm to delivered (p50 and max, from the job's own
timestamps) and why runs failed (the job's failure reason, or a timeout).

Two modes:

* **sandbox** (no ``TRT_KIE_API_KEY`` in the environment, or ``--sandbox``): starts the KIE
  emulator, the Telegram emulator and a node in this process (``DATABASE_URL``, or an
  embedded PostgreSQL in a temporary directory), and each run is a different emulated user
  typing ``/gen <model> field=value ...`` and pressing the confirm button. Delivered means
  the job ended ``delivered`` *and* the user's chat holds the media message.
* **real** (the node's own settings): each run is a job confirmed directly in the database
  (``trt_actors.domain.jobs.confirm``) for ``--chat-id`` — an admin (default: the first of
  ``TRT_ADMIN_IDS``) — at no credit cost, and delivered to that chat by the node: the running
  node when its status endpoint answers (its janitor submits new jobs within a second), else a
  node started in this process. Runs cost real KIE credits for models that are not free.

Writes ``e2e-report.md`` and ``e2e-report.json`` into ``--out`` (default ``./e2e-report``);
the outcome types and the rendering are in :mod:`tools.e2e_report`.
Exit status 1 if any model is FAILED (or the run could not start: one line says why).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.e2e_report import (
    FAILED,
    ModelResult,
    RunOutcome,
    render_markdown,
    summarize,
    write_report,
)
from trt_actors.catalog.model import Catalog, ModelSpec, load_catalog
from trt_actors.domain import jobs
from trt_actors.infra.store import Store

__all__ = ["ModelResult", "RunOutcome", "main", "render_markdown", "summarize"]

_SANDBOX_USERS = 880_000_000  # emulated users get ids from here on, one per run
_POLL = 0.1


# --- following jobs in the database ----------------------------------------------------------


def _follow(store: Store, runs: Mapping[int, RunOutcome], deadline: float) -> None:
    """Poll the jobs (by id) until each ends or the deadline passes; fill the outcomes."""
    open_ids = set(runs)
    while open_ids:
        for job_id in sorted(open_ids):
            job, run = jobs.load(store, job_id), runs[job_id]
            if job is None:
                continue
            run.state = job.state.value
            if job.state.terminal:
                open_ids.discard(job_id)
                last = jobs.events(store, job_id)[-1]
                run.delivered = job.state.value == "delivered"
                run.seconds = round((last["at"] - job.created_at).total_seconds(), 2)
                if not run.delivered:
                    run.failure = f"{job.failure}: {(last['detail'] or '')[:160]}"
        if not open_ids or time.monotonic() > deadline:
            break
        time.sleep(_POLL)
    for job_id in open_ids:
        runs[job_id].failure = f"timeout (job still {runs[job_id].state})"


@contextlib.contextmanager
def _database(environ: Mapping[str, str], workdir: Path) -> Iterator[str]:
    """``DATABASE_URL``, or an embedded PostgreSQL in ``workdir`` (stopped afterwards)."""
    url = (environ.get("DATABASE_URL") or "").strip()
    if url:
        yield url
        return
    from trt_actors.infra.embedded_pg import EmbeddedPostgres

    embedded = EmbeddedPostgres(workdir / "postgres")
    try:
        yield embedded.start()
    finally:
        embedded.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- sandbox mode ----------------------------------------------------------------------------


def run_sandbox(models: Sequence[ModelSpec], runs: int, *, timeout: float,
                environ: Mapping[str, str], faults: dict[str, Any] | None,
                task_seconds: float, catalog: Catalog) -> list[RunOutcome]:
    """Emulated KIE and Telegram, a node in this process, one emulated user per run."""
    from gateways import Node
    from sandbox.kie_emulator import KieEmulator
    from sandbox.telegram_emulator import TelegramEmulator
    from trt_actors.conversation.commands import gen_command
    from trt_actors.infra.migrations import migrate
    from trt_actors.infra.settings import load_settings

    token = f"{secrets.randbelow(10**9) + 10**8}:e2e-{secrets.token_urlsafe(24)}"
    key, hmac_key = f"e2e-{secrets.token_urlsafe(24)}", secrets.token_urlsafe(24)
    workdir = Path(tempfile.mkdtemp(prefix="trt-e2e-"))
    callback_port = _free_port()
    try:
        with KieEmulator(key, webhook_key=hmac_key, duration_s=task_seconds) as kie, \
                TelegramEmulator(token) as telegram, _database(environ, workdir) as conninfo:
            if faults:
                kie.set_faults(faults)
            migrate(conninfo)
            settings = load_settings(**{
                "TRT_TELEGRAM_TOKEN": token, "TRT_TELEGRAM_API_URL": telegram.url,
                "TRT_KIE_API_KEY": key, "TRT_KIE_API_URL": kie.url, "TRT_KIE_HMAC_KEY": hmac_key,
                "DATABASE_URL": conninfo, "TRT_DATA_DIR": str(workdir),
                "TRT_PUBLIC_CALLBACK_URL": f"http://127.0.0.1:{callback_port}",
                "TRT_CALLBACK_LISTEN": f"127.0.0.1:{callback_port}",
                "TRT_STATUS_LISTEN": f"127.0.0.1:{_free_port()}", "TRT_STATUS_TOKEN": None,
                "TRT_FREE_DAILY_LIMIT": 1000, "TRT_WELCOME_CREDITS": 1000})
            node = Node(settings, conninfo, catalog).start()
            try:
                plan = [(m, n) for m in models for n in range(1, runs + 1)]
                # fresh user ids each time: a reused DATABASE_URL may hold earlier runs' jobs
                base = _SANDBOX_USERS + secrets.randbelow(10**5) * 1000
                users = {base + i: RunOutcome(m.id, n) for i, (m, n) in enumerate(plan)}
                for user, (m, _) in zip(users, plan, strict=True):
                    telegram.send_text(user, gen_command(m, dict(m.example)))
                confirmed = _press_confirm(telegram, users, time.monotonic() + min(timeout, 30))
                by_job = _jobs_of(node.store, confirmed, users, time.monotonic() + 15)
                _follow(node.store, by_job, time.monotonic() + timeout)
                for user, run in users.items():  # delivered = the message is in the chat
                    if run.delivered and not any(m.get("media") for m in telegram.messages(user)):
                        run.delivered, run.failure = False, "delivered, but no media in the chat"
                return list(users.values())
            finally:
                node.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _press_confirm(telegram: Any, users: Mapping[int, RunOutcome], deadline: float) -> list[int]:
    """Press the first button of each user's confirm screen; the users whose press went in."""
    waiting, pressed = set(users), []
    while waiting and time.monotonic() < deadline:
        for user in sorted(waiting):
            screen = next((m for m in reversed(telegram.messages(user))
                           if (m.get("reply_markup") or {}).get("inline_keyboard")), None)
            if screen is not None:
                button = screen["reply_markup"]["inline_keyboard"][0][0]
                telegram.press_button(user, screen["message_id"], button["callback_data"])
                waiting.discard(user)
                pressed.append(user)
        if waiting:
            time.sleep(_POLL)
    for user in waiting:
        said = [m.get("plain_text") or "" for m in telegram.messages(user)
                if m.get("sender") == "bot"]
        users[user].failure = ("no confirm screen" + (f" (bot said: {said[-1][:120]})"
                                                      if said else ""))
    return pressed


def _jobs_of(store: Store, chats: Sequence[int], users: Mapping[int, RunOutcome],
             deadline: float) -> dict[int, RunOutcome]:
    """The job each pressed confirm created (waits for the chat actor to commit it)."""
    found: dict[int, RunOutcome] = {}
    while True:
        for chat in chats:  # sandbox users are their own chats
            for row in store.all("jobs_of_user", user_id=chat, limit=1):
                users[chat].job_id = row["id"]
                found[row["id"]] = users[chat]
        if len(found) >= len(chats) or time.monotonic() > deadline:
            break
        time.sleep(_POLL)
    for chat in chats:
        if users[chat].job_id is None:
            users[chat].failure = "confirm pressed, but no job was created"
    return found


# --- real mode -------------------------------------------------------------------------------


def _node_answers(status_listen: str) -> bool:
    import requests

    host, _, port = status_listen.rpartition(":")
    host = "127.0.0.1" if host.strip("[]") in ("0.0.0.0", "::", "") else host
    try:
        return requests.get(f"http://{host}:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def run_real(models: Sequence[ModelSpec], runs: int, *, timeout: float, chat_id: int,
             settings: Any, catalog: Catalog, start_node: bool) -> list[RunOutcome]:
    """Jobs confirmed for ``chat_id`` in the node's database; the node delivers them (the
    running one, or one started here with ``start_node``)."""
    from gateways import Node
    from trt_actors.catalog.validation import validate_input
    from trt_actors.infra.migrations import migrate
    from trt_actors.messages import SubmitJob

    workdir = Path(settings.data_dir)
    env = {"DATABASE_URL": settings.database_url.get_secret_value()} \
        if settings.database_url is not None else {}
    with _database(env, workdir) as conninfo:
        node = None
        if start_node:
            migrate(conninfo)
            node = Node(settings, conninfo, catalog).start()
        store = Store(conninfo, min_size=1, max_size=2).open()
        try:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            by_job: dict[int, RunOutcome] = {}
            for m in models:
                for n in range(1, runs + 1):
                    job, _ = jobs.confirm(store, jobs.NewJob(
                        user_id=chat_id, chat_id=chat_id, model_id=m.id, family=m.family.value,
                        input=validate_input(m, m.example), price=0, free=m.free,
                        expected_seconds=m.expected_seconds, max_seconds=m.max_seconds,
                        idempotency_key=f"e2e:{stamp}:{m.id}:{n}"))
                    by_job[job.id] = RunOutcome(m.id, n, job_id=job.id)
                    if node is not None:
                        node.jobs.route(job.id, SubmitJob(job.id))
            _follow(store, by_job, time.monotonic() + timeout)
            return list(by_job.values())
        finally:
            store.close()
            if node is not None:
                node.stop()


# --- the command -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="trt-node e2e", description="Free models end to end: a STABLE/UNSTABLE/FAILED "
        "report; exit 1 when a model is FAILED.")
    p.add_argument("--models", help="comma-separated model ids (default: every free model)")
    p.add_argument("--runs", type=int, default=3, help="runs per model (default %(default)s)")
    p.add_argument("--chat-id", type=int, help="real mode: the admin chat to deliver to")
    p.add_argument("--out", type=Path, default=Path("e2e-report"), help="report directory")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds each run may take from confirm to delivered")
    p.add_argument("--sandbox", action="store_true", help="use the emulators even with a key")
    # test hooks: KIE emulator faults (the /_control/faults JSON) and its task duration
    p.add_argument("--kie-faults", help=argparse.SUPPRESS)
    p.add_argument("--task-seconds", type=float, default=0.5, help=argparse.SUPPRESS)
    return p


def _fail(line: str) -> int:
    print(f"trt-node e2e: {line}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``trt-node e2e ...``; returns the exit status."""
    args = _parser().parse_args(list(argv) if argv is not None else None)
    environ = os.environ if environ is None else environ
    if args.runs < 1 or args.timeout <= 0:
        return _fail("--runs and --timeout must be positive")
    sandbox = args.sandbox or not environ.get("TRT_KIE_API_KEY")
    settings = None
    if not sandbox:
        from pydantic import ValidationError

        from trt_actors.infra.settings import load_settings, settings_error_line

        try:
            settings = load_settings()
        except (ValidationError, ValueError) as exc:
            return _fail(settings_error_line(exc))
    from trt_actors.errors import CatalogError

    try:
        faults = json.loads(args.kie_faults) if args.kie_faults else None
        catalog = load_catalog(settings.catalog_path if settings else
                               (Path(environ["TRT_CATALOG"]) if environ.get("TRT_CATALOG")
                                else None))
    except (ValueError, CatalogError) as exc:
        return _fail(str(exc))
    wanted = ([m.strip() for m in args.models.split(",") if m.strip()] if args.models
              else [m.id for m in catalog.free_models()])
    unknown = [m for m in wanted if m not in catalog]
    if unknown or not wanted:
        return _fail(f"unknown model(s): {', '.join(unknown)}" if unknown else "no models")
    models = [catalog.get(m) for m in wanted]
    started, t0 = dt.datetime.now(dt.UTC), time.monotonic()
    if sandbox:
        mode = "sandbox (KIE and Telegram emulators, node in process)"
        outcomes = run_sandbox(models, args.runs, timeout=args.timeout, environ=environ,
                               faults=faults, task_seconds=args.task_seconds, catalog=catalog)
    else:
        assert settings is not None
        chat_id = args.chat_id or (min(settings.admin_ids) if settings.admin_ids else None)
        if chat_id is None or chat_id not in settings.admin_ids:
            return _fail("--chat-id must be one of TRT_ADMIN_IDS (results are sent there)")
        running = _node_answers(settings.status_listen)
        mode = (f"real (KIE {settings.kie_api_url}, delivered to admin chat {chat_id} by "
                f"{'the running node' if running else 'a node started by e2e'})")
        outcomes = run_real(models, args.runs, timeout=args.timeout, chat_id=chat_id,
                            settings=settings, catalog=catalog, start_node=not running)
    results = summarize(outcomes)
    meta = {"mode": mode, "runs": args.runs, "timeout_s": args.timeout,
            "started_at": started.isoformat(timespec="seconds"),
            "took_s": round(time.monotonic() - t0, 1)}
    md, js = write_report(results, meta, args.out)
    for r in results:
        p50, worst = r.timing()
        print(f"{r.verdict:<8} {r.model:<28} {r.delivered}/{len(r.runs)} delivered"
              + (f", p50 {p50} s, max {worst} s" if p50 is not None else ""))
    print(f"report: {md} and {js}")
    return 1 if any(r.verdict == FAILED for r in results) else 0
