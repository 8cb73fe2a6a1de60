"""Stale uploads, end to end: KIE keeps uploaded files about 24 h, so a job that reaches
createTask after its inputs' uploads expired (``TRT_KIE_UPLOAD_TTL_S``) re-uploads them from
the stored Telegram ``file_id`` first — or, when Telegram no longer has the file, fails with
the hold released and the user told. A real node against the Telegram and KIE emulators.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from sandbox.kie_emulator import KieEmulator
from tests.integration.test_file_inputs import (
    captured,
    job_rows,
    open_wizard,
    press,
    texts,
    wait_text,
)
from tests.support.telegram_node import KIE_KEY, Telegram, start_node
from tests.support.waiting import wait_until

TTL = 1.0


@pytest.fixture
def kie() -> Iterator[KieEmulator]:
    with KieEmulator(KIE_KEY, seed=13, duration_s=0.2) as emu:
        yield emu


@pytest.fixture
def telegram() -> Iterator[Telegram]:
    tg = Telegram()
    try:
        yield tg
    finally:
        tg.stop()


def released(database: str, user: int) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT coalesce(sum(amount), 0) FROM ledger WHERE user_id = %s "
                           "AND kind = 'release'", (user,)).fetchone()
    return int(row[0]) if row else 0


def job_files(database: str, user: int) -> list[dict[str, object]]:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT files FROM jobs WHERE user_id = %s ORDER BY id DESC LIMIT 1",
                           (user,)).fetchone()
    return list(row[0]) if row else []


def photo_to_confirm_screen(emu: object, user: int) -> float:
    """A photo for Remove Background, up to the confirm screen; when it was uploaded."""
    open_wizard(emu, user, "Remove background", "Remove Background")  # type: ignore[arg-type]
    asked = wait_text(emu, user, "photo or file")  # type: ignore[arg-type]
    emu.send_media(user, "photo", size=200_000)  # type: ignore[attr-defined]
    wait_text(emu, user, "check your order", after=asked)  # type: ignore[arg-type]
    return time.monotonic()


def test_a_stale_upload_is_redone_before_create_task_and_the_job_delivered_once(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=1)
    node = start_node(database, telegram, kie, TRT_KIE_UPLOAD_TTL_S=TTL)
    try:
        uploaded = photo_to_confirm_screen(emu, 8)
        # The user reads the order longer than KIE keeps the upload.
        kie.expire_uploads()
        wait_until(lambda: time.monotonic() - uploaded > TTL * 1.2, 5, "the upload to age")
        press(emu, 8, "Confirm")
        wait_until(lambda: [j["state"] for j in job_rows(database, 8)]
                   in (["delivered"], ["failed"]), 30, "the job to end")
    finally:
        node.stop()
    [job] = job_rows(database, 8)
    assert job["state"] == "delivered", (texts(emu, 8)[-1], kie.stats()["answers"])
    first, second = kie.uploads()
    assert first["expired"] and not second["expired"]
    assert job["input"]["image"] == second["downloadUrl"]
    [record] = job_files(database, 8)
    assert record["url"] == second["downloadUrl"] and record["field"] == "image"
    assert captured(database, 8) == job["price"] > 0
    assert len(kie.stats()["tasks"]) == 1


def test_a_file_telegram_no_longer_has_fails_the_job_with_the_hold_released(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=1)
    node = start_node(database, telegram, kie, TRT_KIE_UPLOAD_TTL_S=TTL)
    try:
        uploaded = photo_to_confirm_screen(emu, 9)
        kie.expire_uploads()
        wait_until(lambda: time.monotonic() - uploaded > TTL * 1.2, 5, "the upload to age")
        emu.add_fault("getFile", "error", status=400,
                      description="Bad Request: wrong file_id or the file is temporarily "
                                  "unavailable")
        press(emu, 9, "Confirm")
        wait_until(lambda: [j["state"] for j in job_rows(database, 9)]
                   in (["delivered"], ["failed"]), 30, "the job to end")
        at = wait_text(emu, 9, "send it again")
    finally:
        node.stop()
    [job] = job_rows(database, 9)
    assert job["state"] == "failed"
    assert "returned to your balance" in texts(emu, 9)[at]
    assert released(database, 9) == job["price"] > 0 and captured(database, 9) == 0
    assert len(kie.uploads()) == 1 and kie.stats()["tasks"] == []  # nothing new, no task


def test_a_re_upload_that_fails_for_now_is_retried_and_the_job_delivered(
    database: str, telegram: Telegram, kie: KieEmulator,
) -> None:
    emu = telegram.start(next_update_id=1)
    node = start_node(database, telegram, kie, TRT_KIE_UPLOAD_TTL_S=TTL)
    try:
        uploaded = photo_to_confirm_screen(emu, 10)
        kie.expire_uploads()
        wait_until(lambda: time.monotonic() - uploaded > TTL * 1.2, 5, "the upload to age")
        emu.add_fault("getFile", "error", status=502, count=1)
        press(emu, 10, "Confirm")
        wait_until(lambda: [j["state"] for j in job_rows(database, 10)]
                   in (["delivered"], ["failed"]), 30, "the job to end")
    finally:
        node.stop()
    [job] = job_rows(database, 10)
    assert job["state"] == "delivered", texts(emu, 10)[-1]
    assert len(kie.uploads()) == 2 and len(kie.stats()["tasks"]) == 1
    assert captured(database, 10) == job["price"] > 0
