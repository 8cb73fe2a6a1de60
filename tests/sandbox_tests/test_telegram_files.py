"""Files users send through the Telegram emulator: updates, getFile, downloads, limits, faults.

Driven by the real python-telegram-bot client, as the node's gateway is.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
import requests
import telegram
from telegram.error import BadRequest, NetworkError, TimedOut

from sandbox.telegram_content import make_content
from sandbox.telegram_emulator import TelegramEmulator

TOKEN = "123456:TEST-token"
USER = 4242
MB = 1024 * 1024
T = TypeVar("T")
pytestmark = pytest.mark.filterwarnings("ignore:.*duration.*:DeprecationWarning")


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(TOKEN, seed=7).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def with_bot(emu: TelegramEmulator, scenario: Callable[[telegram.Bot], Awaitable[T]]) -> T:
    async def main() -> T:
        bot = telegram.Bot(TOKEN, base_url=f"{emu.url}/bot", base_file_url=f"{emu.url}/file/bot")
        async with bot:
            return await scenario(bot)

    return asyncio.run(main())


def updates(emu: TelegramEmulator) -> list[telegram.Update]:
    async def scenario(bot: telegram.Bot) -> list[telegram.Update]:
        return list(await bot.get_updates(timeout=0))

    return with_bot(emu, scenario)


def download(emu: TelegramEmulator, file_id: str) -> tuple[telegram.File, bytes]:
    async def scenario(bot: telegram.Bot) -> tuple[telegram.File, bytes]:
        file = await bot.get_file(file_id)
        return file, bytes(await file.download_as_bytearray())

    return with_bot(emu, scenario)


def test_user_photo_arrives_as_photo_sizes_and_downloads_as_a_jpeg_of_that_size(
    emu: TelegramEmulator,
) -> None:
    sent = emu.send_media(USER, "photo", size=300_000, caption="edit this")
    (update,) = updates(emu)
    message = update.message
    assert message is not None and message.caption == "edit this"
    largest = message.photo[-1]
    assert largest.file_id == sent["file_id"] and largest.file_size == 300_000
    assert (largest.width, largest.height) == (1280, 960)
    assert [p.width for p in message.photo] == sorted(p.width for p in message.photo)
    file, data = download(emu, largest.file_id)
    assert file.file_size == 300_000 and file.file_path and file.file_path.endswith(".jpg")
    assert len(data) == 300_000 and data[:3] == b"\xff\xd8\xff" and data.endswith(b"\xff\xd9")
    _, thumb = download(emu, message.photo[0].file_id)
    assert thumb[:2] == b"\xff\xd8" and len(thumb) < len(data)


def test_documents_videos_audio_and_voice_look_like_telegrams(emu: TelegramEmulator) -> None:
    emu.send_media(USER, "document", size=50_000, mime_type="application/pdf")
    emu.send_media(USER, "document", size=40_000, file_name="cat.png")
    emu.send_media(USER, "video", size=2 * MB, duration=180, width=640, height=360)
    emu.send_media(USER, "audio", size=70_000, duration=42)
    emu.send_media(USER, "voice", size=9_000)
    pdf_msg, png_msg, video_msg, audio_msg, voice_msg = (u.message for u in updates(emu))
    assert pdf_msg and png_msg and video_msg and audio_msg and voice_msg
    pdf, png = pdf_msg.document, png_msg.document
    assert pdf and pdf.mime_type == "application/pdf" and pdf.file_name == "document.pdf"
    assert png and png.mime_type == "image/png" and png.file_name == "cat.png"
    video, audio, voice = video_msg.video, audio_msg.audio, voice_msg.voice
    assert video and video.duration == 180 and (video.width, video.height) == (640, 360)
    assert video.mime_type == "video/mp4" and video.file_size == 2 * MB
    assert audio and audio.duration == 42 and audio.mime_type == "audio/mpeg"
    assert voice and voice.mime_type == "audio/ogg"
    magic = {pdf.file_id: b"%PDF-", png.file_id: b"\x89PNG", audio.file_id: b"ID3",
             voice.file_id: b"OggS"}
    for file_id, head in magic.items():
        file, data = download(emu, file_id)
        assert data.startswith(head) and len(data) == file.file_size
    _, mp4 = download(emu, video.file_id)
    assert mp4[4:8] == b"ftyp" and len(mp4) == 2 * MB


def test_an_album_is_several_messages_sharing_a_media_group_id(emu: TelegramEmulator) -> None:
    for _ in range(3):
        emu.send_media(USER, "photo", size=20_000, media_group_id="album1")
    emu.send_media(USER, "photo", size=20_000)
    messages = [u.message for u in updates(emu)]
    assert [m.media_group_id for m in messages if m] == ["album1"] * 3 + [None]
    assert len({m.photo[-1].file_id for m in messages if m}) == 4


def test_a_file_over_20_mb_cannot_be_fetched_by_the_bot(emu: TelegramEmulator) -> None:
    big = emu.send_media(USER, "document", size=21 * MB, mime_type="video/mp4")
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        download(emu, big["file_id"])
    exact = emu.send_media(USER, "photo", size=20 * MB)
    _, data = download(emu, exact["file_id"])
    assert len(data) == 20 * MB


def test_download_url_needs_the_right_token(emu: TelegramEmulator) -> None:
    sent = emu.send_media(USER, "photo", size=5_000)
    path = sent["file_path"]
    assert requests.get(f"{emu.url}/file/bot999:nope/{path}", timeout=5).status_code == 404
    assert requests.get(f"{emu.url}/file/bot{TOKEN}/photos/none.jpg", timeout=5).status_code == 404
    good = requests.get(f"{emu.url}/file/bot{TOKEN}/{path}", timeout=5)
    assert good.status_code == 200 and len(good.content) == 5_000


def test_get_file_and_download_faults_then_recovery(emu: TelegramEmulator) -> None:
    sent = emu.send_media(USER, "photo", size=10_000)
    emu.add_fault("getFile", "error", status=502, count=1)
    with pytest.raises(NetworkError):
        download(emu, sent["file_id"])
    emu.add_fault("download", "error", status=500, count=1)
    with pytest.raises(NetworkError):
        download(emu, sent["file_id"])
    emu.add_fault("download", "drop", count=1)
    with pytest.raises(NetworkError):
        download(emu, sent["file_id"])

    async def slow(bot: telegram.Bot) -> None:
        file = await bot.get_file(sent["file_id"])
        await file.download_as_bytearray(read_timeout=0.3)

    emu.add_fault("download", "slow", delay=2.0, count=1)
    with pytest.raises(TimedOut):
        with_bot(emu, slow)
    _, data = download(emu, sent["file_id"])
    assert len(data) == 10_000
    assert emu.stats()["faults_injected"] == 4


def test_http_user_api_sends_given_bytes_or_generated_ones(emu: TelegramEmulator) -> None:
    picture = make_content("image/png", 2_000)
    body = {"user_id": USER, "kind": "photo",
            "content_b64": "data:image/png;base64," + base64.b64encode(picture).decode()}
    answer = requests.post(f"{emu.url}/_user/send_media", json=body, timeout=5).json()
    assert answer["ok"] and answer["result"]["file_size"] == 2_000
    generated = {"user_id": USER, "kind": "voice", "size": 4_000, "duration": 7}
    second = requests.post(f"{emu.url}/_user/send_media", json=generated, timeout=5).json()
    assert second["ok"]
    wrong = requests.post(f"{emu.url}/_user/send_media", json={"user_id": USER, "kind": "gif"},
                          timeout=5)
    assert wrong.status_code == 400 and not wrong.json()["ok"]
    first, voice = (u.message for u in updates(emu))
    assert first and voice and voice.voice and voice.voice.duration == 7
    _, data = download(emu, first.photo[-1].file_id)
    assert data == picture
    shown = emu.messages(USER, include_user=True)
    assert [m["media"]["kind"] for m in shown] == ["photo", "voice"]
