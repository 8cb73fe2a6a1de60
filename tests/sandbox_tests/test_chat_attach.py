"""The chat page's attach flow against the Telegram emulator alone (no browser, no node).

The page reads the picked image as a data URL and POSTs it to ``/_user/send_media``; this test
posts exactly that, then reads the conversation as the page does and loads the photo it shows.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import pytest
import requests
import telegram

from sandbox.telegram_content import make_content
from sandbox.telegram_emulator import TelegramEmulator

TOKEN = "123456:TEST-token"
USER = 7


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(TOKEN, seed=3).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def page_posts_photo(emu: TelegramEmulator, picture: bytes, caption: str) -> requests.Response:
    """What chat.js's sendPhoto sends for a picked PNG file."""
    data_url = "data:image/png;base64," + base64.b64encode(picture).decode()
    body = {"user_id": USER, "kind": "photo", "content_b64": data_url, "file_name": "cat.png",
            "mime_type": "image/png", "language_code": "en", "first_name": "Test",
            "caption": caption}
    return requests.post(f"{emu.url}/_user/send_media", json=body, timeout=5)


def test_page_offers_an_attach_button_that_posts_send_media(emu: TelegramEmulator) -> None:
    html = requests.get(emu.chat_url(USER), timeout=5).text
    assert 'id="attach"' in html and 'type="file"' in html and 'accept="image/*"' in html
    script = requests.get(f"{emu.url}/chat/static/chat.js", timeout=5).text
    assert 'userOp("send_media"' in script and "content_b64" in script


def test_an_attached_photo_reaches_the_bot_and_shows_in_the_conversation(
    emu: TelegramEmulator,
) -> None:
    picture = make_content("image/png", 12_345)
    answer = page_posts_photo(emu, picture, "make it blue")
    assert answer.status_code == 200 and answer.json()["ok"]

    shown = requests.get(f"{emu.url}/_user/wait_messages",
                         params={"chat_id": str(USER), "since": "", "timeout": "0"},
                         timeout=5).json()
    (message,) = shown["result"]["messages"]
    assert message["sender"] == "user" and message["plain_text"] == "make it blue"
    assert message["media"]["kind"] == "photo"
    image = requests.get(f"{emu.url}{message['media']['url']}", timeout=5)
    assert image.status_code == 200 and image.content == picture
    assert TOKEN not in message["media"]["url"]

    async def bot_side() -> bytes:
        bot = telegram.Bot(TOKEN, base_url=f"{emu.url}/bot", base_file_url=f"{emu.url}/file/bot")
        async with bot:
            (update,) = await bot.get_updates(timeout=0)
            assert update.message is not None and update.message.caption == "make it blue"
            file = await update.message.photo[-1].get_file()
            return bytes(await file.download_as_bytearray())

    assert asyncio.run(bot_side()) == picture


def test_a_broken_attachment_is_refused_and_nothing_reaches_the_bot(
    emu: TelegramEmulator,
) -> None:
    body = {"user_id": USER, "kind": "photo", "content_b64": "data:image/png;base64,@@@"}
    refused = requests.post(f"{emu.url}/_user/send_media", json=body, timeout=5)
    assert refused.status_code == 400 and not refused.json()["ok"]
    assert emu.pending_updates() == []
