"""The Telegram emulator's update ids and webhooks, as Telegram has them, through a real PTB
client over real HTTP: ids per bot, never restarting at 1; a webhook blocks getUpdates with
Telegram's own 409 and keeps the updates until it is deleted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import requests
import telegram
from telegram.error import BadRequest, Conflict

from sandbox.telegram_emulator import TelegramEmulator
from sandbox.telegram_model import first_update_id
from tests.support.waiting import wait_until

TOKEN, OTHER = "123456:TEST-token", "654321:OTHER-token"
WEBHOOK_ACTIVE = ("Conflict: can't use getUpdates method while webhook is active; "
                  "use deleteWebhook to delete the webhook first")


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    with TelegramEmulator([TOKEN, OTHER], seed=3) as emulator:
        yield emulator


def api(emu: TelegramEmulator, method: str, token: str = TOKEN, **params: object) -> dict:
    """One Bot API call as any client makes it (an operator's curl, say)."""
    return dict(requests.post(f"{emu.url}/bot{token}/{method}", json=params, timeout=10).json())


def test_update_ids_are_per_bot_far_from_1_and_can_jump_like_telegrams(
    emu: TelegramEmulator,
) -> None:
    first = emu.send_text(1, "/start")["update_id"]
    assert first > 1000, "a fresh emulator must not restart the sequence at 1"
    assert emu.send_text(1, "again")["update_id"] == first + 1
    # A run that made fewer ids than milliseconds it lived never overlaps the next run's.
    wait_until(lambda: first_update_id() > first + 1, 1.0, "a millisecond per id used")
    with TelegramEmulator(TOKEN) as later:  # a restart: a new run never reuses recent ids
        assert later.send_text(1, "/start")["update_id"] > first + 1
    # Telegram's random next id after a week without updates; another bot, its own sequence.
    requests.post(f"{emu.url}/_control/next_update_id", json={"update_id": 7},
                  timeout=10).raise_for_status()
    assert emu.send_text(2, "/start")["update_id"] == 7
    emu.set_next_update_id(7, token=OTHER)
    assert emu.send_text(2, "/start", token=OTHER)["update_id"] == 7
    emu.reset()
    assert emu.send_text(3, "/start")["update_id"] == 8, "ids go on after a reset"
    stats = emu.stats()
    assert stats["next_update_id"] == {"emu_bot": 9, "emu1_bot": 8}


def test_a_webhook_blocks_get_updates_and_keeps_updates_until_deleted(
    emu: TelegramEmulator,
) -> None:
    assert api(emu, "setWebhook", url="http://insecure.example")["description"] == \
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    assert api(emu, "setWebhook", url="https://old.example/hook", secret_token="s3cr3t")["ok"]
    emu.send_text(1, "written while the webhook was set")
    info = api(emu, "getWebhookInfo")["result"]
    assert (info["url"], info["pending_update_count"]) == ("https://old.example/hook", 1)
    assert "secret_token" not in info, "Telegram never tells the secret back"

    answer = api(emu, "getUpdates")
    assert (answer["error_code"], answer["description"]) == (409, WEBHOOK_ACTIVE)
    assert api(emu, "deleteWebhook", drop_pending_updates=False)["ok"]
    assert api(emu, "getWebhookInfo")["result"]["url"] == ""
    (update,) = api(emu, "getUpdates")["result"]
    assert update["message"]["text"] == "written while the webhook was set"

    api(emu, "setWebhook", url="https://old.example/hook")
    emu.send_text(1, "dropped")
    api(emu, "deleteWebhook", drop_pending_updates=True)
    assert api(emu, "getUpdates", offset=update["update_id"] + 1)["result"] == []


def test_setting_a_webhook_ends_a_waiting_long_poll_with_the_webhook_conflict(
    emu: TelegramEmulator,
) -> None:
    failure: list[BaseException] = []

    def poll() -> None:
        async def main() -> None:
            async with telegram.Bot(TOKEN, base_url=f"{emu.url}/bot") as bot:
                await bot.get_updates(timeout=30, read_timeout=40)

        try:
            asyncio.run(main())
        except BaseException as exc:  # what the poller saw, for the assertion below
            failure.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    emu.wait_for_poll(timeout=10)
    api(emu, "setWebhook", url="https://new.example:8443/hook")
    poller.join(10)
    assert len(failure) == 1 and isinstance(failure[0], Conflict)
    assert failure[0].message == WEBHOOK_ACTIVE
    assert api(emu, "setWebhook", url="https://new.example:9000/hook")["description"] == \
        "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
    with pytest.raises(BadRequest):
        asyncio.run(_set_webhook_with_bad_secret(emu))


async def _set_webhook_with_bad_secret(emu: TelegramEmulator) -> None:
    async with telegram.Bot(TOKEN, base_url=f"{emu.url}/bot") as bot:
        await bot.set_webhook("https://new.example/hook", secret_token="not allowed!")
