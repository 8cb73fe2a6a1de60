"""A webhook left set, a webhook set while the node runs, another process polling the token.

A real node (in process) against an emulated Telegram that models webhooks as Telegram does:
getUpdates answers 409 while one is set, and updates wait until it is deleted. What the
users notice (answered or not) and what the operator reads (/status alerts, the log).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator

import pytest
import telegram
from telegram.error import Conflict

from sandbox.kie_emulator import KieEmulator
from tests.support.telegram_node import (
    KIE_KEY,
    TOKEN_A,
    Telegram,
    alert_keys,
    assert_all_answered,
    say_start,
    start_node,
    status,
    unanswered,
)
from tests.support.waiting import wait_until
from trt_actors.messages import IntakeLoopFailed

OLD_HOOK = "https://old-deployment.example/tg/hook?secret=hunter2-webhook-secret"


@pytest.fixture(scope="module")
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, seed=11) as emu:
        yield emu


@pytest.fixture
def telegram_() -> Iterator[Telegram]:
    tg = Telegram()
    tg.start(next_update_id=3000)
    try:
        yield tg
    finally:
        tg.stop()


def test_a_webhook_left_set_is_deleted_at_start_and_everyone_is_answered(
    database: str, telegram_: Telegram, kie: KieEmulator, caplog: pytest.LogCaptureFixture,
) -> None:
    tg = telegram_
    assert tg.emu is not None
    assert tg.api("setWebhook", url=OLD_HOOK)["ok"]  # the earlier deployment's
    say_start(tg.emu, [1, 2])  # users who write during the switch
    node = start_node(database, tg, kie)
    try:
        say_start(tg.emu, [3, 4, 5])
        assert_all_answered(tg.emu, range(1, 6))
        assert tg.api("getWebhookInfo")["result"]["url"] == ""
        assert alert_keys(node) == set()
    finally:
        node.stop()
    said = [r.getMessage() for r in caplog.records if "webhook" in r.getMessage()]
    assert len(said) == 1, said
    assert "https://old-deployment.example/tg/hook" in said[0]
    pending = re.search(r"(\d+) pending updates", said[0])
    assert pending and int(pending[1]) >= 2, "the log says how many updates were waiting"
    assert "hunter2" not in said[0], "the webhook's secret must not reach the log"


def test_a_webhook_set_while_running_raises_its_alert_and_is_left_alone(
    database: str, telegram_: Telegram, kie: KieEmulator,
) -> None:
    tg = telegram_
    assert tg.emu is not None
    node = start_node(database, tg, kie)
    try:
        say_start(tg.emu, [1])
        assert_all_answered(tg.emu, [1])
        assert tg.api("setWebhook", url="https://someone-else.example/hook")["ok"]
        wait_until(lambda: "telegram_webhook" in alert_keys(node), 15, "the webhook alert")
        facts = status(node)
        assert facts["intake"]["state"] == "conflict: webhook"
        alert = next(a for a in facts["alerts"] if a["key"] == "telegram_webhook")
        assert "deleteWebhook" in alert["message"]
        say_start(tg.emu, [2])
        assert tg.api("getWebhookInfo")["result"]["url"], "not the node's to delete"
        assert unanswered(tg.emu, [2]) == [2]

        tg.api("deleteWebhook")  # the operator follows the runbook
        assert_all_answered(tg.emu, [2], timeout=30)
        wait_until(lambda: not alert_keys(node), 30, "the alert to clear")
        assert status(node)["intake"]["state"] == "polling"
    finally:
        node.stop()


def test_another_poller_raises_its_own_alert_and_the_node_resumes_when_it_stops(
    database: str, telegram_: Telegram, kie: KieEmulator,
) -> None:
    tg = telegram_
    assert tg.emu is not None
    node = start_node(database, tg, kie)
    seen: list[BaseException] = []

    def other_process() -> None:
        """An old deployment polling the same token: one long poll, then it is stopped."""
        async def poll() -> None:
            async with telegram.Bot(TOKEN_A, base_url=f"{tg.url}/bot") as bot:
                await bot.get_updates(timeout=3, read_timeout=10)

        try:
            asyncio.run(poll())
        except Conflict as exc:  # the node asking again ends its poll: fine
            seen.append(exc)

    try:
        say_start(tg.emu, [1])
        assert_all_answered(tg.emu, [1])
        tg.emu.wait_for_poll(timeout=10)
        other = threading.Thread(target=other_process)
        other.start()
        wait_until(lambda: "telegram_other_poller" in alert_keys(node), 15,
                   "the other-poller alert")
        facts = status(node)
        assert facts["intake"]["state"] == "conflict: other_poller"
        assert "telegram_webhook" not in alert_keys(node)
        other.join(15)
        say_start(tg.emu, [2, 3])
        assert_all_answered(tg.emu, [2, 3], timeout=30)
        wait_until(lambda: not alert_keys(node), 30, "the alert to clear")
    finally:
        node.stop()


def test_a_restarted_intake_leaves_no_second_poller_behind(
    database: str, telegram_: Telegram, kie: KieEmulator,
) -> None:
    """A failed intake actor's loop must stop with it: else it polls on beside the restarted
    one and the two take turns with 409s (the other-poller alert, updates split)."""
    tg = telegram_
    assert tg.emu is not None
    node = start_node(database, tg, kie)

    def loops() -> int:
        return sum(t.name == "telegram-intake" and t.is_alive() for t in threading.enumerate())

    try:
        say_start(tg.emu, [1])
        assert_all_answered(tg.emu, [1])
        ref = node.root.child_ref("intake")
        assert ref is not None
        ref.tell(IntakeLoopFailed())  # the actor fails; its supervisor starts another
        wait_until(lambda: node.root.child_ref("intake") not in (None, ref), 10, "a new intake")
        wait_until(lambda: loops() == 1, 15, "one polling loop, not two")
        say_start(tg.emu, [2, 3])
        assert_all_answered(tg.emu, [2, 3])
        assert loops() == 1 and "telegram_other_poller" not in alert_keys(node)
    finally:
        node.stop()
