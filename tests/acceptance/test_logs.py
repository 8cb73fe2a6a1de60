"""The node's logs over a full job: JSON lines, job context on every job line, no secret."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.harness import (
    KIE_KEY,
    TOKEN,
    NodeProcess,
    last_with_buttons,
    media_messages,
    wait_until,
)
from trt_actors.infra.logs import add_log_fields, log_context, setup_logging

pytestmark = pytest.mark.acceptance

HMAC_KEY = "acceptance-hmac-key-424242"
USER = 777


@pytest.fixture
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, webhook_key=HMAC_KEY, duration_s=0.3) as emu:
        yield emu


@pytest.fixture
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN) as emu:
        yield emu


def one_job(database: str) -> dict[str, Any]:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT j.id, j.callback_token, t.task_id FROM jobs j "
                           "JOIN kie_tasks t ON t.job_id = j.id").fetchone()
    assert row is not None
    return {"id": row[0], "secret": row[1], "task_id": row[2]}


def test_a_full_job_logs_json_lines_with_context_and_no_secret(
    database: str, kie: KieEmulator, telegram: TelegramEmulator, tmp_path: Path,
) -> None:
    node = NodeProcess(database, kie, telegram, tmp_path / "node.log", TRT_LOG_FORMAT="json",
                       TRT_LOG_LEVEL="DEBUG", TRT_KIE_HMAC_KEY=HMAC_KEY)
    try:
        node.start()
        telegram.send_text(USER, '/gen z-image prompt="a lighthouse at dusk"')
        screen = wait_until(lambda: last_with_buttons(telegram, USER), 20, "the confirm screen")
        confirm = screen["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        telegram.press_button(USER, screen["message_id"], confirm)
        wait_until(lambda: media_messages(telegram, USER), 30, "the generated image")
        assert kie.callbacks() and kie.callbacks()[0]["status"] == 200, "signed callback taken"
    finally:
        assert node.stop() == 0
    job = one_job(database)
    text = node.log()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"t", "level", "logger", "msg"} <= set(d) for d in lines), \
        "every log line is a JSON object"

    job_lines = [d for d in lines if d["logger"] == "trt.job"
                 or d["msg"].startswith(f"job {job['id']}:")]
    assert job_lines, "the job actor logged its job"
    assert all(d.get("job_id") == job["id"] for d in job_lines), \
        [d for d in job_lines if d.get("job_id") != job["id"]][:3]
    assert any(d.get("task_id") == job["task_id"] for d in job_lines), "task id once known"

    for secret in (TOKEN, TOKEN.split(":")[1], KIE_KEY, HMAC_KEY, job["secret"]):
        assert secret not in text, "a secret reached the node's log"
    # the callback really was logged (tornado.access at DEBUG), with its secret cut off
    assert f"/kie/callback/{job['id']}.***" in text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, sys.excepthook, threading.excepthook)
    try:
        yield
    finally:
        root.handlers[:], level, sys.excepthook, threading.excepthook = saved
        root.setLevel(level)
        logging.captureWarnings(False)


def test_tracebacks_and_thread_crashes_are_redacted_and_carry_the_context(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    setup_logging("INFO", "json", [KIE_KEY, TOKEN], stream=out)
    log = logging.getLogger("trt.job")
    with log_context(job_id=5, chat_id=USER):
        add_log_fields(task_id="T5")
        try:
            raise RuntimeError(f"KIE said no to {KIE_KEY} at /kie/callback/5.AbCdEfGh12345678_x")
        except RuntimeError:
            log.exception("submit failed")
    def crash() -> None:
        raise ZeroDivisionError(f"while calling bot{TOKEN}/getMe")

    worker = threading.Thread(target=crash, name="Worker-1")
    worker.start()
    worker.join()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    failed, uncaught = lines
    assert (failed["job_id"], failed["chat_id"], failed["task_id"]) == (5, USER, "T5")
    assert "***" in failed["exc"] and "/kie/callback/5.***" in failed["exc"]
    assert uncaught["logger"] == "trt.uncaught" and "ZeroDivisionError" in uncaught["exc"]
    assert "job_id" not in uncaught, "the context ends with its block"
    for secret in (KIE_KEY, TOKEN, TOKEN.split(":")[1], "AbCdEfGh12345678_x"):
        assert secret not in out.getvalue()
