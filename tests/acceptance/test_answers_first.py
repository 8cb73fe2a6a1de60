"""Answers first: a person pressing a button while the node drains a backlog of 1,000 results
(other people's) sees the answer at once, not after the backlog; and Telegram's flood limits
are never broken (no 429 from the emulator, which enforces them as Telegram documents)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.acceptance.flows import Person, query
from tests.acceptance.harness import NodeProcess, wait_until
from tools.bench import seed as bench_seed

pytestmark = pytest.mark.acceptance

BACKLOG, BACKLOG_CHATS, FIRST_BACKLOG_CHAT = 1000, 100, 600_000
MENU = "What would you like to make?"


def results_left(database: str) -> int:
    rows = query(database, "SELECT count(*) AS n FROM outbox WHERE kind = 'result'"
                           " AND status <> 'sent'")
    return int(rows[0]["n"])


def test_a_button_press_is_answered_ahead_of_a_thousand_results_without_a_429(
    database: str, kie: KieEmulator, telegram: TelegramEmulator, node: NodeProcess,
    tmp_path: Path,
) -> None:
    telegram.configure(strict_chats=False)  # the backlog's chats never wrote to the bot
    node.start()
    person = Person(telegram, 8801)
    menu = person.say("/start", MENU)

    bench_seed.results(database, BACKLOG, chats=BACKLOG_CHATS, first_chat=FIRST_BACKLOG_CHAT)
    wait_until(lambda: results_left(database) <= BACKLOG - 30, 30, "the backlog draining")

    pressed_at = time.time()
    mark, query_id = person.press("Free models", on=menu)
    screen = person.expect("Free models", mark, timeout=10)
    waited = screen.at - pressed_at
    left = results_left(database)
    print(f"\nbutton press answered in {waited * 1000:.0f} ms, {left} results still waiting")
    assert screen.message_id == menu.message_id, "the menu is edited, not sent again"
    assert left > BACKLOG // 2, f"the answer came after the backlog ({left} results left)"
    assert waited < 3.0, f"the answer took {waited:.2f} s"  # measured: 53 ms
    wait_until(lambda: telegram.callback_query(query_id)["answered"], 10,
               "the button's spinner to stop")

    wait_until(lambda: results_left(database) == 0, 120, "the backlog drained")
    stats = telegram.stats()
    assert stats["too_many_requests"] == 0, stats["too_many_requests_by_chat"]
    assert stats["max_global_rate"] <= 30
    first = [str(m["plain_text"]) for m in telegram.messages(FIRST_BACKLOG_CHAT)]
    assert len(first) == BACKLOG // BACKLOG_CHATS, "each result once"
    assert first == sorted(first, key=lambda c: int(c.rsplit(" ", 1)[1])), "in job order"
