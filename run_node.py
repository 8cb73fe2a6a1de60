"""TRT node: a Telegram bot selling KIE AI generations. The single entry point.

    trt-node run        run the node (settings from the environment); --workers N runs N
                        worker processes under one supervising parent (overrides TRT_WORKERS;
                        default: the cores this process may use; 1: all in this process)
    trt-node migrate    apply database migrations and exit (reads only the database settings)
    trt-node sandbox    run the node against emulated KIE and Telegram, embedded PostgreSQL
                        (one process unless --workers N)
    trt-node bench      P1-P6, P8 benchmarks (pipeline, latency, 100k and 1M waiting, polling,
                        drain, restart, retention purge)
    trt-node check      the pre-deploy gate (--strict, --json, --install-hook); exit 1 on failure
    trt-node e2e        run the free models end to end; STABLE/UNSTABLE/FAILED report
    trt-node models     the catalog with its effective prices (--json); no token needed

Exit codes (for systemd / Docker restart policies):
    0   stopped cleanly (SIGTERM / Ctrl-C)
    2   refused to start: a setting, the catalog or the bot token is wrong (one line says which)
    69  the database could not be reached at start-up (retrying later may help)
    70  the supervision tree gave up (a part kept failing); restart the node

With several workers the parent loads and checks the settings, starts the embedded
PostgreSQL (no DATABASE_URL), applies the migrations and checks the token once, then runs
``run_node.py run`` once per slot with TRT_WORKER_SLOT set. It runs no node itself: it
restarts a worker that dies (backoff with jitter; more than 10 restarts in 60 s: exit 70), exits
2 at once if a worker refuses its configuration, and on SIGTERM stops every worker, then the
embedded PostgreSQL. A worker ends by itself within a second if its parent is killed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trt_actors import environ_secrets, secrets_of, setup_logging

if TYPE_CHECKING:  # every other import is inside the subcommand that needs it
    from trt_actors import DatabaseSettings

EXIT_CONFIG, EXIT_DB, EXIT_GAVE_UP = 2, 69, 70
PARENT_PID_ENV = "TRT_PARENT_PID"
"""Set by the parent for each worker it starts: the pid the worker's parent watch expects."""

log = logging.getLogger("trt.main")


def fail(line: str, code: int = EXIT_CONFIG) -> int:
    print(f"trt-node: {line}", file=sys.stderr)
    return code


def load(env: dict[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Any:
    """Settings and catalog, or a one-line refusal (returned as an int exit code).

    ``overrides`` replace settings after validation: only ``trt-node bench`` uses them, for
    limits above KIE's real ones that the settings rightly refuse from the environment."""
    from pydantic import ValidationError

    from trt_actors import CatalogError, load_catalog, load_settings, settings_error_line

    try:
        settings = load_settings(**(env or {}))
    except (ValidationError, ValueError) as exc:
        return fail(settings_error_line(exc))
    if overrides:
        settings = settings.model_copy(update=dict(overrides))
    try:
        catalog = load_catalog(settings.catalog_path).with_pricing(
            settings.credits_per_kie_credit)
    except CatalogError as exc:
        return fail(str(exc))
    return settings, catalog


def database(settings: DatabaseSettings) -> tuple[str, Any]:
    from trt_actors import EmbeddedPostgres

    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), None
    embedded = EmbeddedPostgres(Path(settings.data_dir) / "postgres")
    return embedded.start(), embedded


def check_token(settings: Any) -> str | None:
    """getMe before anything starts: a bad token refuses to start; a network error is only
    logged (the intake retries)."""
    import asyncio

    from telegram.error import InvalidToken, NetworkError, TelegramError

    from gateways.telegram import make_bot

    async def get_me() -> str:
        async with make_bot(settings.telegram_token.get_secret_value(),
                            settings.telegram_api_url) as bot:
            me = await bot.get_me()
            return str(me.username)

    try:
        name = asyncio.run(get_me())
        log.info("Telegram: bot @%s", name)
    except InvalidToken:
        return "TRT_TELEGRAM_TOKEN: Telegram rejected this token (check it with @BotFather)"
    except (NetworkError, TelegramError) as exc:
        log.warning("Telegram not reachable yet (%s); starting anyway", type(exc).__name__)
    return None


def run(env: dict[str, str] | None = None, *, stop_event: threading.Event | None = None,
        status_routes: Any = None, overrides: Mapping[str, Any] | None = None,
        workers: int | None = None, worker_argv: Sequence[str] | None = None) -> int:
    """The node: in this process (one worker, or a worker its parent started), or as the
    parent of ``workers`` (default ``TRT_WORKERS``) worker processes, each running
    ``worker_argv`` (default ``run_node.py run``)."""
    if (parent := os.environ.get(PARENT_PID_ENV)) is not None:
        watch_parent(int(parent))
    if workers is not None:
        env = {**(env or {}), "TRT_WORKERS": str(workers)}
    loaded = load(env, overrides)
    if isinstance(loaded, int):
        return loaded
    settings, catalog = loaded
    setup_logging(settings.log_level, settings.log_format, secrets_of(settings))
    if settings.worker_slot is None and settings.workers > 1:
        return supervise(settings, env, stop_event=stop_event, worker_argv=worker_argv)
    from gateways import Node
    from trt_actors import StoreError, migrate

    worker = settings.worker_slot is not None
    try:
        conninfo, embedded = database(settings)
        if not worker:  # a worker's parent has migrated and checked the token, once
            migrate(conninfo)
    except StoreError as exc:
        return fail(f"DATABASE_URL: {exc}", EXIT_DB)
    if not worker and (problem := check_token(settings)) is not None:
        return fail(problem)
    stop = stop_event or threading.Event()
    outcome = {"code": 0}

    def give_up(reason: Any) -> None:
        log.critical("supervision gave up: %s", reason)
        outcome["code"] = EXIT_GAVE_UP
        stop.set()

    node = Node(settings, conninfo, catalog, on_give_up=give_up, status_routes=status_routes)
    for sig in (signal.SIGTERM, signal.SIGINT):
        if threading.current_thread() is threading.main_thread():
            signal.signal(sig, lambda *_: stop.set())
    try:
        node.start()
    except StoreError as exc:
        return fail(f"DATABASE_URL: {exc}", EXIT_DB)
    log.info("node running%s; callbacks on %s, status on %s",
             f" as worker {settings.worker_slot} of {settings.workers}" if worker else "",
             settings.callback_listen, settings.status_listen)
    stop.wait()
    node.stop()
    if embedded is not None:
        embedded.stop()
    return outcome["code"]


def supervise(settings: Any, env: Mapping[str, str] | None, *,
              stop_event: threading.Event | None = None,
              worker_argv: Sequence[str] | None = None) -> int:
    """The parent of ``settings.workers`` worker processes: no node, no actors, no HTTP."""
    from supervision import ProcessSupervisor
    from trt_actors import StoreError, migrate

    try:
        conninfo, embedded = database(settings)
        migrate(conninfo)
    except StoreError as exc:
        return fail(f"DATABASE_URL: {exc}", EXIT_DB)
    if (problem := check_token(settings)) is not None:
        if embedded is not None:
            embedded.stop()
        return fail(problem)
    count = settings.workers
    for name, listen in (("TRT_CALLBACK_LISTEN", settings.callback_listen),
                         ("TRT_STATUS_LISTEN", settings.status_listen)):
        if listen.endswith(":0"):
            log.warning("%s=%s: with %d workers each listens on a port of its own; give a "
                        "fixed port to share it", name, listen, count)
    argv = list(worker_argv or (sys.executable, str(Path(__file__).resolve()), "run"))
    common = {**os.environ, **(env or {}), "TRT_WORKERS": str(count),
              PARENT_PID_ENV: str(os.getpid())}
    if embedded is not None:
        common["DATABASE_URL"] = conninfo
    stop = stop_event or threading.Event()
    workers = ProcessSupervisor(
        count, lambda slot: argv, lambda slot: {**common, "TRT_WORKER_SLOT": str(slot)},
        intensity=10, period=60.0, on_end=lambda code: stop.set())
    for sig in (signal.SIGTERM, signal.SIGINT):
        if threading.current_thread() is threading.main_thread():
            signal.signal(sig, lambda *_: stop.set())
    workers.start()
    log.info("node running as %d workers (parent pid %d); callbacks on %s, status on %s",
             count, os.getpid(), settings.callback_listen, settings.status_listen)
    stop.wait()
    code = workers.stop()
    if code == EXIT_GAVE_UP:
        log.critical("supervision gave up: the workers kept exiting")
    if embedded is not None:
        embedded.stop()
    return code


def watch_parent(parent: int, every: float = 0.5) -> None:
    """A worker never outlives its parent: once ``os.getppid()`` is no longer ``parent``
    (it was killed, the worker was handed to init), end this process at once, as a
    ``kill -9`` would (everything in the node survives one)."""
    def watch() -> None:
        pause = threading.Event()  # never set: its wait() is the watch's period
        while os.getppid() == parent:
            pause.wait(every)
        log.error("the parent process (pid %d) is gone; this worker exits", parent)
        os._exit(EXIT_GAVE_UP)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def migrate_cmd(env: dict[str, str] | None = None) -> int:
    """Only the database part of the settings: no bot token, KIE key or catalog needed."""
    from pydantic import ValidationError

    from trt_actors import load_database_settings, settings_error_line

    try:
        settings = load_database_settings(**(env or {}))
    except (ValidationError, ValueError) as exc:
        return fail(settings_error_line(exc))
    setup_logging("INFO")
    from trt_actors import StoreError, migrate

    try:
        conninfo, embedded = database(settings)
        applied = migrate(conninfo)
    except StoreError as exc:
        return fail(f"DATABASE_URL: {exc}", EXIT_DB)
    print(f"migrations applied: {applied or 'none (up to date)'}")
    if embedded is not None:
        embedded.stop()
    return 0


def sandbox(args: argparse.Namespace) -> int:
    """Emulated KIE and Telegram next to a real node and an embedded PostgreSQL."""
    from gateways.status import sandbox_routes as status_sandbox
    from sandbox.kie_emulator import KieEmulator
    from sandbox.telegram_emulator import TelegramEmulator

    token, key = "123456:SANDBOX-telegram-token-0000", "sandbox-kie-key-0000"
    kie = KieEmulator(key, port=args.kie_port, duration_s=args.task_seconds).start()
    balance_url = f"http://127.0.0.1:{args.status_port}/sandbox/balance/{{user_id}}"
    telegram = TelegramEmulator(token, port=args.telegram_port, flood_limits=True,
                                balance_url=balance_url).start()
    env = {
        "TRT_TELEGRAM_TOKEN": token, "TRT_TELEGRAM_API_URL": telegram.url,
        "TRT_KIE_API_KEY": key, "TRT_KIE_API_URL": kie.url, "TRT_KIE_UPLOAD_URL": kie.url,
        "TRT_PUBLIC_CALLBACK_URL": f"http://127.0.0.1:{args.callback_port}",
        "TRT_CALLBACK_LISTEN": f"127.0.0.1:{args.callback_port}",
        "TRT_STATUS_LISTEN": f"127.0.0.1:{args.status_port}",
        "TRT_ADMIN_IDS": "1",
    }
    for name, value in env.items():
        os.environ.setdefault(name, value)
    print(f"sandbox: Telegram emulator {telegram.url}  (talk as a user: POST "
          f"{telegram.url}/_user/send_text {{\"user_id\": 1, \"text\": \"/start\"}}; "
          f"read replies: GET {telegram.url}/_user/messages?chat_id=1)")
    print(f"sandbox: chat with the bot in a browser: {telegram.chat_url(1)}")
    print(f"sandbox: KIE emulator {kie.url}; status http://127.0.0.1:{args.status_port}/status")
    if args.workers > 1:
        print("sandbox: with --workers > 1 the sandbox's own status routes (/sandbox/...) are "
              "not served; the chat page's balance needs --workers 1")
    try:
        return run(status_routes=status_sandbox.routes, workers=args.workers)
    finally:
        telegram.stop()
        kie.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trt-node", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    node = sub.add_parser("run", help="run the node")
    node.add_argument("--workers", type=int, default=None, metavar="N",
                      help="worker processes under one supervising parent (overrides "
                           "TRT_WORKERS; default: the cores this process may use; 1: the node "
                           "runs in this process). Several workers share TRT_CALLBACK_LISTEN and "
                           "TRT_STATUS_LISTEN (SO_REUSEPORT): give them fixed ports")
    sub.add_parser("migrate", help="apply database migrations and exit")
    box = sub.add_parser("sandbox", help="run against emulated KIE and Telegram")
    box.add_argument("--kie-port", type=int, default=8090)
    box.add_argument("--telegram-port", type=int, default=8091)
    box.add_argument("--callback-port", type=int, default=8080)
    box.add_argument("--status-port", type=int, default=8081)
    box.add_argument("--task-seconds", type=float, default=3.0)
    box.add_argument("--workers", type=int, default=1, metavar="N",
                     help="worker processes (default 1: the emulators' node in this process)")
    # bench, check and e2e parse their own options (`trt-node check --help`): no tool is
    # imported unless its command runs
    sub.add_parser("bench", add_help=False, help="P1-P6, P8: throughput, latency, memory, "
                                                 "recovery, purge; writes BENCHMARKS.md")
    sub.add_parser("check", add_help=False,
                   help="pre-deploy gate: settings, database, catalog, KIE, Telegram, callbacks")
    sub.add_parser("e2e", add_help=False,
                   help="free models end to end: STABLE/UNSTABLE/FAILED report")
    sub.add_parser("models", add_help=False,
                   help="the catalog with its effective prices (--json for machines)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "check":
        from tools import check as preflight

        setup_logging("ERROR", secrets=environ_secrets())
        return preflight.main(rest)
    if args.command == "e2e":
        from tools import e2e

        setup_logging("WARNING", secrets=environ_secrets())
        return e2e.main(rest)
    if args.command == "models":
        from tools import models

        setup_logging("ERROR", secrets=environ_secrets())
        return models.main(rest)
    if args.command == "bench":
        from tools.bench import main as bench_cmd

        bench = argparse.ArgumentParser(prog="trt-node bench")
        bench_cmd.add_arguments(bench)
        bench_args = bench.parse_args(rest)
        setup_logging("WARNING")
        return bench_cmd.main(bench_args)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "run":
        return run(workers=args.workers)
    if args.command == "migrate":
        return migrate_cmd()
    return sandbox(args)


if __name__ == "__main__":
    sys.exit(main())
