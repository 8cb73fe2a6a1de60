"""``trt-node check``: the one-button pre-deploy gate.

    trt-node check [--strict] [--json] [--kie-min-credits N] [--install-hook]
                   [--e2e [--e2e-runs N] [--e2e-out DIR]]

One row per precondition of a working node, each ✓ (ok), ! (warning), ✗ (failed) or –
(skipped because an earlier row failed):

    configuration   the settings load (else the one line naming the bad variable)
    database        PostgreSQL answers (DATABASE_URL, or the embedded server in TRT_DATA_DIR)
    migrations      none pending (a warning: ``run`` applies them at start; --strict fails)
    catalog         the catalog loads, every example passes the validator, paid models cost
                    ≥ 1 credit, the free models z-image and qwen/* are present and free
    KIE API         KIE answers the credit query with this key
    KIE credits     the balance is ≥ --kie-min-credits (a warning below it; --strict fails)
    KIE uploads     TRT_KIE_UPLOAD_URL's upload API answers and takes the key (tools.check_kie)
    Telegram        getMe answers for this bot token
    Telegram webhook  none is set (a warning when one is: ``run`` deletes it at start,
                    keeping its pending updates, so the deployment that set it stops
                    receiving updates; --strict fails so that this is a decision)
    callback URL    TRT_PUBLIC_CALLBACK_URL, when set, reaches THIS node's callback gateway
    e2e (free models)  with --e2e: ``trt-node e2e`` over every free model; a FAILED model
                    fails the gate, an UNSTABLE one is a warning (tools.check_e2e)

The callback probe POSTs a harmless body to ``<TRT_PUBLIC_CALLBACK_URL>/kie/callback/0.<24
random characters>`` (signed with TRT_KIE_HMAC_KEY when set). Job 0 never exists, so the
gateway does what it documents for a callback of an unknown job: it stores it *parked* and
answers 200 ``{"ok": true}``. The probe shows up as one parked orphan on /status and expires
like any orphan (24 h). The node must be running for this row to pass.

Exit status: 1 when a row failed (with --strict: when any row is not ✓), else 0. Nothing
secret is ever printed: every detail goes through the log redactor.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import secrets as random_secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tools.check_e2e import NAME as E2E_ROW
from tools.check_e2e import check_e2e
from tools.check_kie import check_kie, check_kie_upload
from tools.check_rows import (
    CheckResult,
    _fail,
    _first_line,
    _ok,
    _shown,
    _skip,
    _warn,
)
from trt_actors.infra.logs import Redactor, environ_secrets, secrets_of
from trt_actors.infra.settings import Settings

__all__ = ["FREE_MODELS", "CheckResult", "install_hook", "main", "render_table", "run_checks"]

FREE_MODELS = ("z-image", "qwen/text-to-image", "qwen/image-to-image", "qwen/image-edit")
"""Models the product promises for free; the catalog must have them, free."""

DEFAULT_KIE_MIN_CREDITS = 100
HOOK_MARKER = "# installed by: trt-node check --install-hook"
_SYMBOL = {"ok": "✓", "warning": "!", "failed": "✗", "skipped": "–"}


# --- the checks ------------------------------------------------------------------------------


def check_database(settings: Settings) -> tuple[list[CheckResult], Callable[[], None]]:
    """Rows for ``database`` and ``migrations``, and a cleanup (stops an embedded server
    this check started; one a running node uses is left alone)."""
    import psycopg

    from trt_actors.errors import TrtError
    from trt_actors.infra.migrations import pending

    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if settings.database_url is not None:
        conninfo = settings.database_url.get_secret_value()
        where = "DATABASE_URL"
    else:
        from trt_actors.infra.embedded_pg import EmbeddedPostgres

        data_dir = Path(settings.data_dir) / "postgres"
        running = (data_dir / "postmaster.pid").exists()
        embedded = EmbeddedPostgres(data_dir)
        try:
            conninfo = embedded.start()
        except TrtError as exc:
            return [_fail("database", str(exc)), _skip("migrations", "no database")], cleanup
        if not running:
            cleanup = embedded.stop
        where = f"embedded PostgreSQL in {data_dir}"
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        version = row[0] if row else "?"
    except psycopg.Error as exc:
        return [_fail("database", f"{where} cannot be reached: {_first_line(exc)}"),
                _skip("migrations", "database unreachable")], cleanup
    rows = [_ok("database", f"{where} answers (PostgreSQL {version})")]
    try:
        missing = pending(conninfo)
    except TrtError as exc:
        rows.append(_fail("migrations", f"cannot read schema_migrations: {exc}"))
        return rows, cleanup
    if missing:
        listed = ", ".join(f"{v:04d}" for v in missing)
        rows.append(_warn("migrations", f"{len(missing)} pending ({listed}): run `trt-node "
                                        "migrate` (or `run`, which applies them at start)"))
    else:
        rows.append(_ok("migrations", "schema up to date"))
    return rows, cleanup


def check_catalog(catalog_path: Path | None) -> CheckResult:
    from trt_actors.catalog.model import load_catalog
    from trt_actors.catalog.validation import InputRejected, validate_input
    from trt_actors.errors import CatalogError

    name = "catalog"
    try:
        catalog = load_catalog(catalog_path)
    except CatalogError as exc:
        return _fail(name, str(exc))
    for model in catalog.models.values():
        # load_catalog checks these too; asserted again so the gate never trusts one path
        try:
            validate_input(model, model.example)
        except InputRejected as rejected:
            return _fail(name, f"model {model.id!r}: its example is rejected: "
                               f"{rejected.errors[0].field}: {rejected.errors[0].message.en}")
        if not model.free and (model.price or 0) < 1:
            return _fail(name, f"model {model.id!r} is paid but has no price of at least 1")
    for model_id in FREE_MODELS:
        if model_id not in catalog:
            return _fail(name, f"the free model {model_id!r} is missing")
        if not catalog.get(model_id).free:
            return _fail(name, f"the model {model_id!r} must be free")
    free = len(catalog.free_models())
    return _ok(name, f"{len(catalog)} models valid ({free} free), "
                     f"{catalog_path or 'packaged catalog.json'}")


def check_telegram(settings: Settings) -> list[CheckResult]:
    """Rows ``Telegram`` (getMe) and ``Telegram webhook`` (getWebhookInfo)."""
    from telegram import WebhookInfo
    from telegram.error import InvalidToken, TelegramError

    from gateways.telegram import make_bot
    from gateways.telegram.webhook import shown_url

    async def ask() -> tuple[str, WebhookInfo]:
        async with make_bot(settings.telegram_token.get_secret_value(),
                            settings.telegram_api_url) as bot:
            return str((await bot.get_me()).username), await bot.get_webhook_info()

    where, hook = _shown(settings.telegram_api_url), "Telegram webhook"
    try:
        username, info = asyncio.run(ask())
    except InvalidToken:
        return [_fail("Telegram", f"{where} rejected TRT_TELEGRAM_TOKEN (check it with "
                                  "@BotFather)"), _skip(hook, "Telegram refused the token")]
    except TelegramError as exc:
        return [_fail("Telegram", f"{where} not reachable: {type(exc).__name__}: {exc}"),
                _skip(hook, "Telegram not reachable")]
    rows = [_ok("Telegram", f"getMe answers: bot @{username}")]
    if not info.url:
        return [*rows, _ok(hook, "none set: the node polls getUpdates")]
    # A warning, not a failure: `run` deals with it. --strict fails so that taking the bot
    # over from a webhook deployment is a decision, not a surprise.
    return [*rows, _warn(hook, f"a webhook is set ({shown_url(info.url)}, "
                               f"{info.pending_update_count} pending updates): `trt-node run` "
                               "will delete it at start, keeping the pending updates; stop "
                               "the deployment that uses it")]


def check_callback_url(settings: Settings) -> CheckResult:
    import requests

    name = "callback URL"
    base = settings.public_callback_url
    if base is None:
        return _ok(name, "TRT_PUBLIC_CALLBACK_URL not set: results come by status polling")
    secret = random_secrets.token_urlsafe(18)  # 24 characters, the gateway's token alphabet
    url = f"{base}/kie/callback/0.{secret}"
    task_id = f"trt-check-{random_secrets.token_hex(8)}"
    body = json.dumps({"code": 200, "msg": "trt-node check probe",
                       "data": {"taskId": task_id, "state": "waiting"}}).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "trt-node-check"}
    if settings.kie_hmac_key is not None:
        stamp = str(int(time.time()))
        digest = hmac.new(settings.kie_hmac_key.get_secret_value().encode(),
                          f"{task_id}.{stamp}".encode(), hashlib.sha256).digest()
        headers |= {"X-Webhook-Timestamp": stamp,
                    "X-Webhook-Signature": base64.b64encode(digest).decode()}
    shown = _shown(base)
    try:
        resp = requests.post(url, data=body, headers=headers, timeout=(5, 10),
                             allow_redirects=False)
    except requests.ConnectionError:
        return _fail(name, f"nothing answers at {shown}: is the node running, and does this "
                           f"URL reach its TRT_CALLBACK_LISTEN ({settings.callback_listen})?")
    except requests.Timeout:
        return _fail(name, f"{shown} did not answer within 10 s")
    except requests.RequestException as exc:
        return _fail(name, f"{shown}: {type(exc).__name__}")
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if resp.status_code == 200 and answer == {"ok": True}:
        return _ok(name, f"{shown} reaches the node's callback gateway (probe parked)")
    if resp.status_code == 403 and isinstance(answer, dict) and answer.get("ok") is False:
        return _fail(name, f"{shown}: the gateway refused the signed probe (403): its "
                           "TRT_KIE_HMAC_KEY differs from this one")
    if resp.status_code == 503:
        return _fail(name, f"{shown}: the gateway answers 503 (its database is down)")
    return _fail(name, f"{shown} answered HTTP {resp.status_code}, not as this node's callback "
                       "gateway does (200 {\"ok\": true})")


def run_checks(settings: Settings, catalog_path: Path | None, *,
               kie_min_credits: int) -> list[CheckResult]:
    """Every check after the configuration (which ``settings`` already passed), in order."""
    rows = [_ok("configuration", "settings valid")]
    db_rows, cleanup = check_database(settings)
    try:
        rows += db_rows
    finally:
        cleanup()
    rows.append(check_catalog(catalog_path))
    rows += check_kie(settings, kie_min_credits)
    rows.append(check_kie_upload(settings))
    rows += check_telegram(settings)
    rows.append(check_callback_url(settings))
    return rows


# --- output and the command ------------------------------------------------------------------


def failed(rows: Sequence[CheckResult], *, strict: bool) -> bool:
    """Whether these rows fail the gate."""
    if strict:
        return any(not r.ok for r in rows)
    return any(r.status == "failed" for r in rows)


def render_table(rows: Sequence[CheckResult], *, strict: bool) -> str:
    width = max(len(r.name) for r in rows)
    lines = [f"  {_SYMBOL[r.status]} {r.name.ljust(width)}  {r.detail}" for r in rows]
    counts = {s: sum(1 for r in rows if r.status == s) for s in _SYMBOL}
    verdict = "FAILED" if failed(rows, strict=strict) else "OK"
    summary = (f"{counts['ok']} ok, {counts['warning']} warning(s), {counts['failed']} failed"
               + (f", {counts['skipped']} skipped" if counts["skipped"] else ""))
    mode = " (strict)" if strict else ""
    return "\n".join([f"trt-node check{mode}", *lines, f"{summary}: {verdict}"])


def install_hook(cwd: Path | None = None) -> tuple[int, str]:
    """Write ``.git/hooks/pre-push`` running ``check --strict``; (exit code, message)."""
    import shutil
    import subprocess

    cwd = cwd or Path.cwd()
    try:
        out = subprocess.run(["git", "rev-parse", "--git-path", "hooks/pre-push"], cwd=cwd,
                             capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 1, (f"{cwd} is not inside a git repository (or git is not installed): "
                   "run this in a clone of the project")
    hook = (cwd / out.stdout.strip()).resolve()
    if hook.exists() and HOOK_MARKER not in hook.read_text(errors="replace"):
        return 1, (f"{hook} already exists and is not ours: left untouched. Add the line "
                   "`trt-node check --strict || exit 1` to it yourself.")
    runner = shutil.which("trt-node")
    command = (f'"{runner}" check --strict' if runner else
               f'"{sys.executable}" "{Path(__file__).resolve().parents[1] / "run_node.py"}" '
               "check --strict")
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(f"#!/bin/sh\n{HOOK_MARKER}\n# The pre-deploy gate: settings come from "
                    f"this shell's environment.\nexec {command}\n")
    hook.chmod(0o755)
    return 0, f"installed {hook}: every git push runs `trt-node check --strict` first"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trt-node check", description="The pre-deploy gate: exit 1 when a check fails.")
    parser.add_argument("--strict", action="store_true",
                        help="fail on warnings too (pending migrations, low KIE credits, a "
                             "Telegram webhook set)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--kie-min-credits", type=int, default=DEFAULT_KIE_MIN_CREDITS,
                        metavar="N", help="warn below this KIE balance (default %(default)s)")
    parser.add_argument("--e2e", action="store_true",
                        help="also run the free models end to end (trt-node e2e) and fail on "
                             "any FAILED model")
    parser.add_argument("--e2e-runs", type=int, default=3, metavar="N",
                        help="runs per free model with --e2e (default %(default)s)")
    parser.add_argument("--e2e-out", type=Path, default=Path("e2e-report"), metavar="DIR",
                        help="where --e2e writes its report (default %(default)s)")
    parser.add_argument("--install-hook", action="store_true",
                        help="install `check --strict` as this repository's git pre-push hook")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``trt-node check ...``; returns the exit status."""
    from pydantic import ValidationError

    from trt_actors.infra.settings import load_settings, settings_error_line

    args = _parser().parse_args(list(argv) if argv is not None else None)
    if args.install_hook:
        code, message = install_hook()
        print(f"trt-node check: {message}", file=sys.stderr if code else sys.stdout)
        return code
    redact = Redactor(environ_secrets())  # settings may not load: take them from the env
    try:
        settings = load_settings()
    except (ValidationError, ValueError) as exc:
        rows = [_fail("configuration", settings_error_line(exc)),
                *(_skip(n, "configuration invalid") for n in (
                    "database", "migrations", "catalog", "KIE API", "KIE credits", "KIE uploads",
                    "Telegram",
                    "Telegram webhook", "callback URL")),
                *([_skip(E2E_ROW, "configuration invalid")] if args.e2e else [])]
    else:
        redact = Redactor(secrets_of(settings))
        rows = run_checks(settings, settings.catalog_path, kie_min_credits=args.kie_min_credits)
        if args.e2e:
            if any(r.status == "failed" for r in rows):
                rows.append(_skip(E2E_ROW, "an earlier check failed"))
            else:
                rows.append(check_e2e(max(1, args.e2e_runs), args.e2e_out))
    rows = [CheckResult(r.name, r.ok, redact(r.detail), r.severity) for r in rows]
    bad = failed(rows, strict=args.strict)
    if args.json:
        doc: dict[str, Any] = {"ok": not bad, "strict": args.strict,
                               "checks": [{**asdict(r), "status": r.status} for r in rows]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print(render_table(rows, strict=args.strict))
    return 1 if bad else 0
