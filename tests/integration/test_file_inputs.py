"""Users' photos and files as model inputs, end to end: a real node (intake, chat actors,
the transfer pool, job actors, delivery, PostgreSQL) against the Telegram and KIE emulators.

A photo is fetched from Telegram (getFile + the file URL holding the bot token), uploaded to
KIE's upload API, and KIE's downloadUrl becomes the input; the token never reaches KIE or
the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.support.telegram_node import KIE_KEY, TOKEN_A, Telegram, start_node
from tests.support.waiting import wait_until

MB = 1024 * 1024


@pytest.fixture
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, seed=12, duration_s=0.2) as emu:
        yield emu


@pytest.fixture
def telegram() -> Iterator[Telegram]:
    tg = Telegram()
    try:
        yield tg
    finally:
        tg.stop()


def texts(emu: TelegramEmulator, user: int) -> list[str]:
    return [m.get("plain_text") or m.get("caption") or "" for m in emu.messages(user)]


def wait_text(emu: TelegramEmulator, user: int, words: str, *, after: int = 0) -> int:
    """Wait until a bot message (from index ``after`` on) contains ``words``; its index."""
    def found() -> int | None:
        for i, text in enumerate(texts(emu, user)[after:], after):
            if words in text:
                return i
        return None
    wait_until(lambda: found() is not None, 20, f"a message with {words!r}")
    index = found()
    assert index is not None
    return index


def press(emu: TelegramEmulator, user: int, label: str) -> None:
    for message in reversed(emu.messages(user)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        for row in rows:
            for button in row:
                if label in button["text"]:
                    emu.press_button(user, message["message_id"], button["callback_data"])
                    return
    raise AssertionError(f"no button {label!r}")


def job_rows(database: str, user: int) -> list[dict[str, Any]]:
    with psycopg.connect(database) as conn:
        cur = conn.execute("SELECT id, state, input, price FROM jobs WHERE user_id = %s "
                           "ORDER BY id", (user,))
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def captured(database: str, user: int) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT coalesce(sum(amount), 0) FROM ledger WHERE user_id = %s "
                           "AND kind = 'capture'", (user,)).fetchone()
    return int(row[0]) if row else 0


def open_wizard(emu: TelegramEmulator, user: int, kind: str, model: str) -> None:
    emu.send_text(user, "/start")
    wait_text(emu, user, "What would you like to make?")
    press(emu, user, "Images")
    wait_text(emu, user, "what should the model do?")
    press(emu, user, kind)
    wait_text(emu, user, "choose a model")
    press(emu, user, model)
    wait_text(emu, user, "Price")
    press(emu, user, "Start")


def test_a_photo_is_uploaded_to_kie_and_the_result_delivered_and_charged(
    database: str, telegram: Telegram, kie: KieEmulator, caplog: pytest.LogCaptureFixture,
) -> None:
    # Every line of ours, even at DEBUG (urllib3's own DEBUG line of each request is muted
    # and redacted by the node's logging setup, ``trt_actors.infra.logs``).
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="trt")
    emu = telegram.start(next_update_id=1)
    node = start_node(database, telegram, kie)
    try:
        open_wizard(emu, 5, "Remove background", "Remove Background")
        asked = wait_text(emu, 5, "photo or file")
        emu.send_media(5, "photo", size=300_000)
        wait_text(emu, 5, "check your order", after=asked)
        press(emu, 5, "Confirm")
        wait_until(lambda: [j["state"] for j in job_rows(database, 5)] == ["delivered"], 30,
                   "the job delivered")
    finally:
        node.stop()
    [job] = job_rows(database, 5)
    [upload] = kie.uploads()
    assert job["input"]["image"] == upload["downloadUrl"]
    assert upload["fileSize"] == 300_000 and upload["authorization"] == f"Bearer {KIE_KEY}"
    assert captured(database, 5) == job["price"] > 0
    secret = TOKEN_A.split(":")[1]
    assert secret not in json.dumps(kie.uploads()) + json.dumps(kie.stats(), default=str)
    assert secret not in caplog.text and "/file/bot" not in caplog.text


def test_an_album_fills_a_list_field(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=1)
    node = start_node(database, telegram, kie)
    try:
        open_wizard(emu, 6, "Image editing", "Nano Banana Edit")
        wait_text(emu, 6, "Step 1/2")
        emu.send_text(6, "make it snow")
        asked = wait_text(emu, 6, "up to 10")
        for _ in range(3):
            emu.send_media(6, "photo", size=50_000, media_group_id="album-1")
        wait_text(emu, 6, "3 of up to 10 images", after=asked)
        press(emu, 6, "Done")
        wait_text(emu, 6, "Optional settings")
    finally:
        node.stop()
    assert len(kie.uploads()) == 3


def test_too_big_wrong_kind_and_a_failed_upload_ask_again_and_charge_nothing(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=1)
    node = start_node(database, telegram, kie)
    try:
        open_wizard(emu, 7, "Remove background", "Remove Background")
        asked = wait_text(emu, 7, "photo or file")
        emu.send_media(7, "document", size=21 * MB, file_name="big.png", mime_type="image/png")
        at = wait_text(emu, 7, "at most 20 MB", after=asked)
        assert "Step 1/1" in texts(emu, 7)[at]
        emu.send_media(7, "document", size=10_000, file_name="doc.pdf")
        at = wait_text(emu, 7, "needs an image", after=at + 1)
        kie.set_faults({"endpoints": {"upload.stream": {"next": 5, "http_status": 500}}})
        emu.send_media(7, "photo", size=10_000)
        at = wait_text(emu, 7, "could not be uploaded", after=at + 1)
        assert "Step 1/1" in texts(emu, 7)[at]
    finally:
        node.stop()
    assert job_rows(database, 7) == [] and captured(database, 7) == 0
    assert kie.uploads() == []
