"""The Telegram emulator counts overlapping getUpdates: the evidence behind "never two
getUpdates at once" when several worker processes share one bot token (issue 16)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.telegram_emulator import TelegramEmulator

TOKEN = "123456:POLL-token"


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(TOKEN, seed=3).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def get_updates(emu: TelegramEmulator, **params: Any) -> requests.Response:
    return requests.post(f"{emu.url}/bot{TOKEN}/getUpdates", json=params, timeout=30)


def overlaps_over_http(emu: TelegramEmulator) -> int:
    stats = requests.get(f"{emu.url}/_control/stats", timeout=5).json()["result"]
    return int(stats["poll_overlaps"]["emu_bot"])


def test_a_second_poller_is_counted_and_the_older_poll_gets_409(emu: TelegramEmulator) -> None:
    answers: list[requests.Response] = []
    older = threading.Thread(target=lambda: answers.append(get_updates(emu, timeout=20)))
    older.start()
    emu.wait_for_poll()
    newer = get_updates(emu, timeout=0)
    older.join(10)
    assert newer.status_code == 200 and newer.json()["result"] == []
    assert [a.status_code for a in answers] == [409]
    assert "terminated by other getUpdates request" in answers[0].json()["description"]
    assert emu.poll_overlaps(TOKEN) == 1
    assert overlaps_over_http(emu) == 1


def test_one_poller_after_another_is_no_overlap(emu: TelegramEmulator) -> None:
    assert get_updates(emu, timeout=0).json()["result"] == []
    sent = emu.send_text(7, "hello")
    first = get_updates(emu, timeout=5).json()["result"]
    assert [u["update_id"] for u in first] == [sent["update_id"]]

    def user_types_once_the_bot_waits() -> None:
        emu.wait_for_poll()
        emu.send_text(7, "again")

    typing = threading.Thread(target=user_types_once_the_bot_waits)
    typing.start()
    second = get_updates(emu, offset=sent["update_id"] + 1, timeout=20).json()["result"]
    typing.join(10)
    assert [u["message"]["text"] for u in second] == ["again"]
    assert emu.poll_overlaps() == 0
    assert overlaps_over_http(emu) == 0


def test_the_poll_of_a_killed_client_is_no_longer_in_flight(emu: TelegramEmulator) -> None:
    """A worker killed mid-poll leaves its connection closed: the standby that takes over
    polls next, and that is not two pollers at once."""
    body = json.dumps({"timeout": 30}).encode()
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as dead:
        dead.sendall(f"POST /bot{TOKEN}/getUpdates HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        emu.wait_for_poll()
    emu.wait_until(lambda: emu.core.bot(None).polls_in_flight == 0)
    assert get_updates(emu, timeout=0).status_code == 200
    assert emu.poll_overlaps() == 0
