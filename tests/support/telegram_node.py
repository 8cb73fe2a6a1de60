"""An in-process node against a Telegram emulator that can be stopped and started again on
the same address (a restarted Telegram, as far as the node can tell), for the intake tests.

``Telegram`` keeps the port; each ``start`` is a fresh emulator (no chats, no pending
updates) whose update ids start where the test says: Telegram's "random next id after a
week without updates" is the interesting case, and it may be lower than before.
"""

from __future__ import annotations

import socket
from typing import Any

import requests

from gateways.node import Node
from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.support.waiting import wait_until
from trt_actors.catalog.model import load_catalog
from trt_actors.infra.settings import load_settings
from trt_actors.messages import GetUrl

TOKEN_A = "111111:intake-test-token-aaaaaaaaaaaaaaaaaaaaaaa"
TOKEN_B = "222222:intake-test-token-bbbbbbbbbbbbbbbbbbbbbbb"
KIE_KEY = "intake-test-kie-key-123456"
MENU = "What would you like to make?"


class Telegram:
    """One emulated Telegram on a fixed port, for both bots; stop() and start() again."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.emu: TelegramEmulator | None = None

    def start(self, next_update_id: int) -> TelegramEmulator:
        self.emu = TelegramEmulator([TOKEN_A, TOKEN_B], port=self.port, flood_limits=False,
                                    next_update_id=next_update_id).start()
        return self.emu

    def stop(self) -> None:
        if self.emu is not None:
            self.emu.stop()
            self.emu = None

    def restart(self, next_update_id: int) -> TelegramEmulator:
        self.stop()
        return self.start(next_update_id)

    def api(self, method: str, token: str = TOKEN_A, **params: Any) -> dict[str, Any]:
        """A Bot API call as an operator's script makes it."""
        return dict(requests.post(f"{self.url}/bot{token}/{method}", json=params,
                                  timeout=10).json())


def start_node(database: str, telegram: Telegram, kie: KieEmulator,
               token: str = TOKEN_A, **overrides: Any) -> Node:
    """``overrides``: more settings by their environment name (``TRT_KIE_UPLOAD_TTL_S=1``)."""
    settings = load_settings(**{
        "TRT_TELEGRAM_TOKEN": token, "TRT_TELEGRAM_API_URL": telegram.url,
        "TRT_KIE_API_KEY": KIE_KEY, "TRT_KIE_API_URL": kie.url, "TRT_KIE_UPLOAD_URL": kie.url,
        "TRT_CALLBACK_LISTEN": "127.0.0.1:0", "TRT_STATUS_LISTEN": "127.0.0.1:0",
        "TRT_WORKERS": "1", **overrides})
    return Node(settings, database, load_catalog(), on_give_up=lambda reason: None).start()


def status(node: Node) -> dict[str, Any]:
    """What the operator reads on GET /status."""
    ref = node.root.child_ref("status")
    assert ref is not None
    return dict(requests.get(f"{ref.ask(GetUrl(), timeout=5)}/status", timeout=10).json())


def alert_keys(node: Node) -> set[str]:
    return {a["key"] for a in status(node)["alerts"]}


def say_start(emu: TelegramEmulator, users: range | list[int], token: str = TOKEN_A) -> None:
    for user in users:
        emu.send_text(user, "/start", token=token)


def unanswered(emu: TelegramEmulator, users: range | list[int], token: str = TOKEN_A,
               *, menus: int = 1) -> list[int]:
    """The users whose chat does not show the bot's menu ``menus`` times yet."""
    return [u for u in users
            if sum(MENU in (m["plain_text"] or "") for m in emu.messages(u, token=token))
            < menus]


def assert_all_answered(emu: TelegramEmulator, users: range | list[int],
                        token: str = TOKEN_A, *, menus: int = 1, timeout: float = 20) -> None:
    try:
        wait_until(lambda: not unanswered(emu, users, token, menus=menus), timeout,
                   "every user to get the menu")
    except AssertionError:
        missing = unanswered(emu, users, token, menus=menus)
        raise AssertionError(f"{len(missing)} of {len(list(users))} users never answered: "
                             f"{missing}") from None
