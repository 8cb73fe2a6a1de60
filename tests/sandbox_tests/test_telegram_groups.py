"""The Telegram emulator's groups and its "let N through first" faults, through the real
python-telegram-bot client over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError

from sandbox.telegram_emulator import TelegramEmulator
from sandbox.telegram_users import UserError

TOKEN = "123456:TEST-groups"
GROUP = -1001


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(TOKEN, seed=3, flood_limits=False).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def test_members_write_and_press_buttons_in_a_group(emu: TelegramEmulator) -> None:
    emu.send_text(1, "/start", chat_id=GROUP, first_name="Alice", title="Friends")

    async def scenario() -> tuple[telegram.Update, telegram.Update]:
        bot = telegram.Bot(TOKEN, base_url=f"{emu.url}/bot")
        async with bot:
            (first,) = await bot.get_updates(timeout=1)
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
            sent = await bot.send_message(GROUP, "Pick", reply_markup=markup)
            emu.press_button(2, sent.message_id, "ok", chat_id=GROUP)  # another member
            (second,) = await bot.get_updates(offset=first.update_id + 1, timeout=1)
            return first, second

    first, second = asyncio.run(scenario())
    assert first.message is not None and first.message.from_user is not None
    assert (first.message.chat.id, first.message.chat.type) == (GROUP, "group")
    assert first.message.chat.title == "Friends" and first.message.from_user.id == 1
    query = second.callback_query
    assert query is not None and query.from_user.id == 2
    assert query.message is not None and query.message.chat.id == GROUP
    assert [m["plain_text"] for m in emu.messages(GROUP)] == ["Pick"]
    with pytest.raises(UserError):
        emu.send_text(3, "hi", chat_id=-5, chat_type="private")


def test_a_fault_with_after_lets_the_first_calls_through(emu: TelegramEmulator) -> None:
    emu.send_text(7, "/start")
    emu.add_fault("sendMessage", "error", status=502, after=1, count=1)

    async def scenario() -> list[str]:
        outcomes = []
        async with telegram.Bot(TOKEN, base_url=f"{emu.url}/bot") as bot:
            for text in ("one", "two", "three"):
                try:
                    await bot.send_message(7, text)
                    outcomes.append("sent")
                except NetworkError:
                    outcomes.append("502")
        return outcomes

    assert asyncio.run(scenario()) == ["sent", "502", "sent"]
