"""Growth at the delivery end, against a real PostgreSQL, the Telegram emulator and real
python-telegram-bot: a result's file_ids are kept with its send and ``/history``'s copy goes
out by file_id (no URL needed); broadcast copies go out, and a 403 takes the user out of the
audience."""

from __future__ import annotations

from typing import Any

from sandbox.kie_media import padded
from sandbox.telegram_emulator import TelegramEmulator
from tests.integration import test_delivery
from tests.integration.test_delivery import (
    MediaServer,
    Start,
    delivered,
    eventually,
    rows,
    succeeded_job,
)
from trt_actors.domain import outbox
from trt_actors.infra.store import Store

emu, media, start = test_delivery.emu, test_delivery.media, test_delivery.start  # fixtures


def _files(store: Store, job_id: int) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        return tx.raw("SELECT part, media, file_id FROM result_files WHERE job_id = %(j)s "
                      "ORDER BY part", {"j": job_id})


def test_a_result_keeps_its_file_ids_and_history_sends_it_again_without_its_url(
    store: Store, emu: TelegramEmulator, media: MediaServer, start: Start,
) -> None:
    job = succeeded_job(store, 501, "google/nano-banana", [media.url("a.png", padded("png", 1))])
    start()
    delivered(store, job)
    (photo,) = emu.messages(501)
    (kept,) = _files(store, job.id)
    assert kept["media"] == "photo" and kept["file_id"] == photo["media"]["file_id"]
    media.stop()  # KIE's URL is gone: only Telegram's copy is left
    with store.transaction() as tx:
        outbox.add(tx, 501, "history", {
            "files": [{"media": "photo", "file_id": kept["file_id"]}],
            "caption": f"#{job.id} again",
            "buttons": [[{"label": "🔁 Again", "data": f"again:{job.id}"}]]})
    eventually(lambda: len(emu.messages(501)) == 2, what="the copy")
    copy = emu.messages(501)[1]
    assert copy["method"] == "sendPhoto" and copy["media"]["file_id"] == kept["file_id"]
    assert copy["plain_text"] == f"#{job.id} again"
    assert copy["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"again:{job.id}"


def test_an_album_keeps_one_file_id_per_part(
    store: Store, emu: TelegramEmulator, media: MediaServer, start: Start,
) -> None:
    urls = [media.url(f"p{i}.png", padded("png", 1)) for i in range(3)]
    job = succeeded_job(store, 502, "google/nano-banana", urls)
    start()
    delivered(store, job)
    kept = _files(store, job.id)
    assert [k["part"] for k in kept] == [0, 1, 2]
    sent = {m["media"]["file_id"] for m in emu.messages(502) if m.get("media")}
    assert {k["file_id"] for k in kept} == sent


def test_broadcast_copies_go_out_and_a_blocked_user_leaves_the_audience(
    store: Store, emu: TelegramEmulator, start: Start,
) -> None:
    with store.transaction() as tx:
        tx.raw("INSERT INTO users (id) VALUES (601), (602)")
        outbox.add(tx, 601, "broadcast", {"text": "New model: Veo 3.1!"}, dedup_key="bc:1:601")
        outbox.add(tx, 602, "broadcast", {"text": "New model: Veo 3.1!"}, dedup_key="bc:1:602")
    emu.block_user(602)
    start()
    eventually(lambda: [r["status"] for r in rows(store, "kind = 'broadcast'")]
               == ["sent", "failed"], what="both settled")
    assert [m["plain_text"] for m in emu.messages(601)] == ["New model: Veo 3.1!"]
    assert emu.messages(602) == []
    with store.transaction() as tx:
        blocked = tx.raw("SELECT user_id FROM audience WHERE blocked_at IS NOT NULL")
    assert [b["user_id"] for b in blocked] == [602]


def test_a_photo_broadcast_goes_out_by_the_admins_file_id_with_its_caption(
    store: Store, emu: TelegramEmulator, start: Start,
) -> None:
    sent = emu.send_media(900, "photo", size=50_000, caption="New model!")  # the admin's photo
    with store.transaction() as tx:
        tx.raw("INSERT INTO users (id) VALUES (603)")
        outbox.add(tx, 603, "broadcast", {"photo": sent["file_id"], "caption": "New model!"},
                   dedup_key="bc:2:603")
    start()
    eventually(lambda: len(emu.messages(603)) == 1, what="the copy")
    (copy,) = emu.messages(603)
    assert copy["method"] == "sendPhoto" and copy["media"]["file_id"] == sent["file_id"]
    assert copy["plain_text"] == "New model!"
