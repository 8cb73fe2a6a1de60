"""The delivery promise under a slow Telegram, a restarted delivery actor and a result that
breaks half way: the real delivery actor, a real PostgreSQL, the Telegram emulator.

What a user would notice: how many copies of the result reached the chat, whether they were
charged, and what the bot told them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from gateways.telegram.delivery import Delivery
from gateways.telegram.send import Item
from sandbox.kie_media import base_media, padded
from sandbox.telegram_emulator import TelegramEmulator
from tests.integration.test_delivery import (
    MESSAGES,
    TOKEN,
    MediaServer,
    delivered,
    eventually,
    rows,
    settlements,
    state,
    succeeded_job,
)
from trt_actors.domain.states import JobState
from trt_actors.infra.store import Store

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*")
FAST = {"interval": 0.1, "backoff_base": 0.05, "backoff_cap": 0.5}


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(TOKEN, seed=12).start()
    emulator.configure(strict_chats=False)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start(store: Store, emu: TelegramEmulator) -> Iterator[Any]:
    started: list[pykka.ActorRef[Any]] = []

    def start_actor(**settings: Any) -> pykka.ActorRef[Any]:
        started.append(Delivery.start(store, TOKEN, emu.url, MESSAGES, **{**FAST, **settings}))
        return started[-1]

    yield start_actor
    for ref in started:
        ref.stop()


def sent_by(emu: TelegramEmulator, chat: int, method: str) -> list[dict[str, Any]]:
    return [m for m in emu.messages(chat) if m["method"] == method]


def ended(store: Store, job_id: int) -> bool:
    return state(store, job_id) in (JobState.DELIVERED, JobState.FAILED)


# --- defect 7: a send Telegram took but answered too late --------------------------------------


def test_a_photo_telegram_stored_but_answered_too_late_reaches_the_chat_once(
    store: Store, emu: TelegramEmulator, media: MediaServer, start: Any,
) -> None:
    """Telegram stores the photo, then answers after the client gave up waiting: the user
    has it. Sending it again would show it twice; the bot sends it once, charges once, and
    offers a button in case it did not arrive after all."""
    emu.add_fault("sendPhoto", "slow", delay=3.0, count=1)
    url = media.url("slow.png", padded("png", 1))
    job = succeeded_job(store, 1201, "z-image", [url])
    start(read_timeout=1.0, media_read_timeout=1.0)
    eventually(lambda: ended(store, job.id))
    eventually(lambda: all(r["status"] == "sent" for r in rows(store, "chat_id = 1201")))
    assert len(sent_by(emu, 1201, "sendPhoto")) == 1, "the user got the photo twice"
    assert state(store, job.id) is JobState.DELIVERED
    assert settlements(store, 1201) == [("capture", 2)]
    (follow_up,) = sent_by(emu, 1201, "sendMessage")
    assert "did not arrive" in follow_up["plain_text"] and f"#{job.id}" in follow_up["plain_text"]
    (button,), = follow_up["reply_markup"]["inline_keyboard"]
    assert button["callback_data"] == f"resend:{job.id}"
    (result,) = rows(store, f"job_id = {job.id} AND kind = 'result'")
    assert result["maybe_sent"] == [url]


def test_a_generous_media_timeout_waits_out_a_slow_telegram(
    store: Store, emu: TelegramEmulator, media: MediaServer, start: Any,
) -> None:
    """Fetching a big video by URL takes Telegram a while: a slow answer within the media
    timeout is just a send (no follow-up), even when plain messages would have timed out."""
    emu.add_fault("sendVideo", "slow", delay=2.0, count=1)
    job = succeeded_job(store, 1202, "sora-2-text-to-video", [media.url("v.mp4",
                                                                         base_media("mp4"))])
    start(read_timeout=1.0, media_read_timeout=10.0)
    delivered(store, job)
    assert len(sent_by(emu, 1202, "sendVideo")) == 1
    assert sent_by(emu, 1202, "sendMessage") == []
    assert settlements(store, 1202) == [("capture", 2)]


# --- defect 8a: a restarted delivery actor and the dying one's last settle ----------------------


def test_a_stopped_incarnation_cannot_settle_a_row_its_successor_owns(
    store: Store, emu: TelegramEmulator, media: MediaServer, start: Any,
) -> None:
    """The first delivery actor stops while its send hangs; the second claims the row and
    sends. The first one's last database call (a "failed", then a "sent") arrives while the
    second's send is on the wire: it must change nothing. One settlement: the capture."""
    emu.add_fault("sendPhoto", "timeout", delay=30.0, count=1)  # the first send hangs
    job = succeeded_job(store, 1301, "z-image", [media.url("r.png", padded("png", 1))])
    first = start()
    eventually(lambda: emu.stats()["faults_injected"] == 1, what="first send on the wire")
    stale = first.proxy().outcomes.get()
    (row,) = rows(store, f"job_id = {job.id}")
    item = Item(row["id"], row["chat_id"], row["job_id"], row["kind"], row["payload"],
                row["attempts"], row["message_ids"])
    first.stop()
    emu.add_fault("sendPhoto", "slow", delay=2.0, count=1)  # stored at once, answered later
    start()
    eventually(lambda: len(sent_by(emu, 1301, "sendPhoto")) == 1, what="second send stored")
    stale.failed(item, "a stale incarnation gives up")
    eventually(lambda: ended(store, job.id))
    eventually(lambda: rows(store, f"job_id = {job.id}")[0]["status"] != "sending")
    stale.sent(item, [999])
    assert state(store, job.id) is JobState.DELIVERED
    assert settlements(store, 1301) == [("capture", 2)]
    (photo,) = sent_by(emu, 1301, "sendPhoto")
    (row,) = rows(store, f"job_id = {job.id}")
    assert (row["status"], row["message_ids"]) == ("sent", [photo["message_id"]])


# --- defect 8b: a multi-part result that breaks half way ---------------------------------------


def test_a_result_that_breaks_after_its_first_part_is_delivered_with_the_rest_as_links(
    store: Store, emu: TelegramEmulator, media: MediaServer, start: Any,
) -> None:
    """Three videos; Telegram takes the first, then fails every video until the attempts are
    spent. The user has part of the result: the job is delivered and charged, and the two
    parts that could not go as videos arrive as links in one message."""
    urls = [media.url(f"p{i}.mp4", base_media("mp4")) for i in range(3)]
    emu.add_fault("sendVideo", "error", status=502, after=1)
    job = succeeded_job(store, 1401, "sora-2-text-to-video", urls)
    start(max_attempts=2)
    eventually(lambda: ended(store, job.id))
    eventually(lambda: all(r["status"] != "sending" for r in rows(store, "chat_id = 1401")))
    assert [m["media"]["url"] for m in sent_by(emu, 1401, "sendVideo")] == urls[:1]
    assert state(store, job.id) is JobState.DELIVERED, "the user kept part 1 for free"
    assert settlements(store, 1401) == [("capture", 2)]
    (links,) = sent_by(emu, 1401, "sendMessage")
    assert urls[1] in links["plain_text"] and urls[2] in links["plain_text"]


def test_a_result_of_which_no_part_reached_the_user_is_released(
    store: Store, emu: TelegramEmulator, media: MediaServer, start: Any,
) -> None:
    urls = [media.url(f"n{i}.mp4", base_media("mp4")) for i in range(2)]
    emu.add_fault("sendVideo", "error", status=502)
    job = succeeded_job(store, 1402, "sora-2-text-to-video", urls)
    start(max_attempts=2)
    eventually(lambda: ended(store, job.id))
    assert state(store, job.id) is JobState.FAILED
    assert settlements(store, 1402) == [("release", 2)]
    assert sent_by(emu, 1402, "sendVideo") == []
