"""The deferred progress message (``TRT_PROGRESS_AFTER_S``) against a real PostgreSQL, the
delivery actor and the Telegram emulator: what the chat shows when a job ends before the
progress message is due, when it moves on before it is due, and that the message waiting for
its time holds nothing else of the chat back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from gateways.telegram.delivery import Delivery
from sandbox.telegram_emulator import TelegramEmulator
from tests.support.waiting import wait_until
from trt_actors.catalog.model import load_catalog
from trt_actors.conversation.job_messages import JobMessages
from trt_actors.domain import jobs, ledger, outbox
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.infra.store import Store
from trt_actors.messages import Wake

TOKEN = "700124:progress-SECRET-xyz"
CATALOG = load_catalog()
MODEL = "google/nano-banana"


@pytest.fixture
def emu() -> Iterator[TelegramEmulator]:
    emulator = TelegramEmulator(TOKEN, seed=12).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def delivery(store: Store, emu: TelegramEmulator) -> Iterator[pykka.ActorRef[Any]]:
    ref = Delivery.start(store, TOKEN, emu.url, JobMessages(CATALOG), interval=0.1)
    try:
        yield ref
    finally:
        ref.stop()


def confirmed(store: Store, messages: JobMessages, user: int) -> jobs.Job:
    """A confirmed job (price held) with its progress message queued."""
    model = CATALOG.models[MODEL]
    ledger.grant(store, user, 100, f"grant:{user}")
    job, _ = jobs.confirm(store, jobs.NewJob(
        user_id=user, chat_id=user, model_id=MODEL, family=model.family, input={},
        price=2, free=False, expected_seconds=10, max_seconds=300,
        idempotency_key=uuid.uuid4().hex))
    with store.transaction() as tx:
        messages.accepted(tx, job)
    loaded = jobs.load(store, job.id)
    assert loaded is not None and loaded.status_outbox_id is not None
    return loaded


def texts(emu: TelegramEmulator, chat: int) -> list[str]:
    return [str(m.get("text") or "") for m in emu.messages(chat)]


def test_a_job_failing_before_its_progress_message_is_due_shows_the_failure_alone(
    store: Store, emu: TelegramEmulator, delivery: pykka.ActorRef[Any],
) -> None:
    messages = JobMessages(CATALOG, progress_after_s=60)
    user = 9101
    emu.send_text(user, "/start")  # the chat exists
    job = confirmed(store, messages, user)
    with store.transaction() as tx:
        moved = jobs.move(tx, job.id, JobState.FAILED, Cause.SUBMIT,
                          failure=Failure.KIE_REJECTED, detail="inputs not accepted")
        assert moved is not None
        messages.failed(tx, moved, Failure.KIE_REJECTED, "inputs not accepted")
    delivery.tell(Wake())
    shown = wait_until(lambda: [m for m in emu.messages(user)
                                if f"Job #{job.id}" in str(m.get("text") or "")], 10,
                       "the failure message")
    assert len(shown) == 1 and "failed" in str(shown[0]["text"]), shown
    assert not shown[0].get("edits"), (
        "the failure comes as a message of its own: no progress message was ever shown")
    later = jobs.load(store, job.id)
    assert later is not None and later.status_outbox_id is None, "nothing will edit it"


def test_a_job_moving_on_before_the_message_is_due_shows_one_message_at_its_stage(
    store: Store, emu: TelegramEmulator, delivery: pykka.ActorRef[Any],
) -> None:
    messages = JobMessages(CATALOG, progress_after_s=1.5)
    user = 9102
    emu.send_text(user, "/start")
    job = confirmed(store, messages, user)
    with store.transaction() as tx:
        outbox.add(tx, user, "text", {"text": "your balance: 98"}, dedup_key=f"t:{user}")
        jobs.move(tx, job.id, JobState.SUBMITTING, Cause.SUBMIT)
        running = jobs.move(tx, job.id, JobState.RUNNING, Cause.CALLBACK)
        assert running is not None
        messages.progress(tx, running)
    delivery.tell(Wake())
    wait_until(lambda: "your balance: 98" in texts(emu, user), 5,
               "the answer queued after the progress message (not held back by it)")
    assert not [t for t in texts(emu, user) if f"Job #{job.id}: " in t], "not due yet"
    shown = wait_until(lambda: [m for m in emu.messages(user)
                                if f"Job #{job.id}: " in str(m.get("text") or "")], 10,
                       "the progress message once due")
    assert len(shown) == 1 and "generating" in str(shown[0]["text"]), shown
    assert not shown[0].get("edits"), "shown at its stage at once, not edited to it"
