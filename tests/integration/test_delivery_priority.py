"""Delivery's priorities against a real PostgreSQL and the Telegram emulator (flood limits on):
an answer overtakes a backlog of other chats' results but never its own chat's earlier
messages, and a progress message is edited only to its latest text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from gateways.telegram.delivery import Delivery
from sandbox.telegram_emulator import TelegramEmulator
from tests.integration.test_delivery import MESSAGES, TOKEN, queue_backlog
from tests.support.waiting import wait_until
from trt_actors.domain import outbox
from trt_actors.infra.store import Store
from trt_actors.messages import Wake

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*")
ASKER = 9001
"""A user who just pressed a button, in no chat of the backlog."""


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(TOKEN, seed=15).start()
    emulator.configure(strict_chats=False)
    try:
        yield emulator
    finally:
        emulator.stop()


Start = Callable[..., "pykka.ActorRef[Any]"]


@pytest.fixture
def start(store: Store, emu: TelegramEmulator) -> Iterator[Start]:
    started: list[pykka.ActorRef[Any]] = []

    def start_actor(**settings: Any) -> pykka.ActorRef[Any]:
        options: dict[str, Any] = {"interval": 0.1, "backoff_base": 0.05, "backoff_cap": 0.5,
                                   "chat_burst": 3}
        options.update(settings)
        started.append(Delivery.start(store, TOKEN, emu.url, MESSAGES, **options))
        return started[-1]

    yield start_actor
    for ref in started:
        ref.stop()


def pending_results(store: Store) -> int:
    with store.transaction() as tx:
        row = tx.raw("SELECT count(*) AS n FROM outbox WHERE kind = 'result'"
                     " AND status <> 'sent'")
    return int(row[0]["n"])


def queue_text(store: Store, chat_id: int, text: str) -> None:
    with store.transaction() as tx:
        outbox.add(tx, chat_id, "text", {"text": text})


def test_an_answer_overtakes_a_backlog_of_other_chats_results_but_not_its_own_chats(
    store: Store, emu: TelegramEmulator, start: Start,
) -> None:
    queue_backlog(store, 600, 200)  # 20 s of sends at 30/s; memory holds at most 300 rows
    ref = start()
    wait_until(lambda: pending_results(store) < 580, 30, "the backlog draining")
    own_chat = 5000  # a chat of the backlog: its answer must follow its results
    queue_text(store, ASKER, "your menu")
    queue_text(store, own_chat, "after your results")
    ref.tell(Wake())
    wait_until(lambda: emu.messages(ASKER), 10, "the answer in the asker's chat")
    left = pending_results(store)
    assert left > 300, f"the answer waited for the backlog ({left} results left)"
    wait_until(lambda: any(m["plain_text"] == "after your results"
                           for m in emu.messages(own_chat)), 60, "the own chat's answer")
    texts = [str(m["plain_text"]) for m in emu.messages(own_chat)]
    assert texts[-1] == "after your results" and len(texts) == 600 // 200 + 1
    assert emu.stats()["too_many_requests"] == 0


def test_only_the_latest_edit_of_a_progress_message_is_sent(
    store: Store, emu: TelegramEmulator, start: Start,
) -> None:
    with store.transaction() as tx:
        status = outbox.add(tx, ASKER, "status", {"text": "queued"}, job_id=77)
        for text in ("generating", "generating 50 %", "done"):
            outbox.add(tx, ASKER, "status_edit", {"text": text, "status_outbox_id": status},
                       job_id=77)
        outbox.add(tx, ASKER, "text", {"text": "what next?"})
    start()
    wait_until(lambda: len(emu.messages(ASKER)) == 2
               and emu.messages(ASKER)[0]["plain_text"] == "done", 20,
               "the progress message showing 'done', then the next message")
    assert emu.messages(ASKER)[1]["plain_text"] == "what next?"
    calls = emu.stats()["method_calls"]
    assert calls.get("editMessageText") == 1 and calls.get("sendMessage") == 2
    with store.transaction() as tx:
        edits = tx.raw("SELECT payload->>'text' AS text, status::text, error FROM outbox"
                       " WHERE kind = 'status_edit' ORDER BY id")
    assert [(e["text"], e["status"]) for e in edits] == [
        ("generating", "sent"), ("generating 50 %", "sent"), ("done", "sent")]
    assert [e["error"] for e in edits[:2]] == ["superseded by a later edit"] * 2
