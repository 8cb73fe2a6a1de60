"""Runs the real node as a subprocess against in-process KIE and Telegram emulators."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.support.waiting import wait_until  # (the acceptance tests import it from here too)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "424242:acceptance-telegram-token-xyz"
KIE_KEY = "acceptance-kie-key-123456"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeProcess:
    """One `run_node.py run` subprocess; can be killed -9 and started again."""

    def __init__(self, database_url: str, kie: KieEmulator, telegram: TelegramEmulator,
                 log_path: Path, **extra_env: str) -> None:
        self.callback_port, self.status_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TRT_TELEGRAM_TOKEN": TOKEN, "TRT_TELEGRAM_API_URL": telegram.url,
            "TRT_KIE_API_KEY": KIE_KEY, "TRT_KIE_API_URL": kie.url,
            "TRT_KIE_UPLOAD_URL": kie.url,
            "TRT_PUBLIC_CALLBACK_URL": f"http://127.0.0.1:{self.callback_port}",
            "TRT_CALLBACK_LISTEN": f"127.0.0.1:{self.callback_port}",
            "TRT_STATUS_LISTEN": f"127.0.0.1:{self.status_port}",
            "TRT_ADMIN_IDS": "1", "TRT_WELCOME_CREDITS": "20", "TRT_LOG_LEVEL": "INFO",
            # The progress message at once: these flows follow it to "done" (the deferred
            # default, TRT_PROGRESS_AFTER_S=3, is test_progress_message's subject).
            "TRT_PROGRESS_AFTER_S": "0",
            # One process unless a test asks for more (TRT_WORKERS="2" in extra_env).
            "TRT_WORKERS": "1",
            **extra_env,
        }
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> NodeProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "run_node.py"), "run"],
                                     env=self.env, stdout=log, stderr=log, cwd=ROOT)
        wait_until(self.ready, timeout, "node /readyz")
        return self

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"node exited with {self.proc.returncode}: {self.log()[-3000:]}")
        try:
            return requests.get(f"{self.status_url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:{self.status_port}"

    def status(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.status_url}/status", timeout=5).json())

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def finish(self) -> tuple[int, str]:
        """Stop the node; return its exit status and its log, which must hold no secret."""
        code = self.stop()
        log = self.log()
        for secret in (TOKEN, KIE_KEY):
            assert secret not in log, "a secret reached the node's log"
        return code, log


def bot_messages(telegram: TelegramEmulator, chat_id: int) -> list[dict[str, Any]]:
    return list(telegram.messages(chat_id))


def last_with_buttons(telegram: TelegramEmulator, chat_id: int) -> dict[str, Any] | None:
    for message in reversed(bot_messages(telegram, chat_id)):
        markup = message.get("reply_markup") or {}
        if markup.get("inline_keyboard"):
            return message
    return None


def media_messages(telegram: TelegramEmulator, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in bot_messages(telegram, chat_id) if m.get("media")]
