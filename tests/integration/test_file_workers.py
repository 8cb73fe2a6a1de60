"""Transfers run in worker processes: a user's photo reaches KIE from there, and a worker that
dies (killed, out of memory) costs one transfer a clear failure, never the bot's ability to
take photos."""

from __future__ import annotations

import os
import queue
import signal
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from gateways.kie.uploads import KieUploader
from gateways.telegram.files import FileTransfers
from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from trt_actors import FileTransferFailed, FileTransferred, TransferFile

KEY = "worker-test-kie-key-0123456"
TOKEN = "123456:worker-test-token-abcdefghijklmnop"
USER = 4242


@pytest.fixture
def setup() -> Iterator[tuple[TelegramEmulator, KieEmulator, FileTransfers, queue.Queue[Any]]]:
    answers: queue.Queue[Any] = queue.Queue()
    with KieEmulator(KEY, duration_s=0) as kie:
        telegram = TelegramEmulator(TOKEN).start()
        transfers = FileTransfers(TOKEN, telegram.url, KieUploader(kie.url, KEY),
                                  lambda chat_id, message: answers.put(message), workers=1)
        try:
            yield telegram, kie, transfers, answers
        finally:
            transfers.close()
            telegram.stop()


def _send(telegram: TelegramEmulator, transfers: FileTransfers, data: bytes, n: int) -> None:
    file_id = str(telegram.send_photo(USER, data)["file_id"])
    transfers.start(TransferFile(chat_id=USER, transfer_id=f"t{n}", file_id=file_id,
                                 name_hint="photo.jpg", mime_type="image/jpeg",
                                 size=len(data)))


def _workers() -> list[psutil.Process]:
    """The transfer worker processes: children of this process's fork server."""
    return [p for p in psutil.Process(os.getpid()).children(recursive=True)
            if "forkserver" in " ".join(p.cmdline()) and p.parent() is not None
            and "forkserver" in " ".join(p.parent().cmdline())]


def test_a_photo_goes_to_kie_from_a_worker_process(setup: Any) -> None:
    telegram, kie, transfers, answers = setup
    _send(telegram, transfers, b"\xff\xd8first-photo", 1)
    answer = answers.get(timeout=30)
    assert isinstance(answer, FileTransferred) and answer.transfer_id == "t1"
    assert [u["fileSize"] for u in kie.uploads()] == [len(b"\xff\xd8first-photo")]
    assert all(w.pid != os.getpid() for w in _workers()) and _workers()


def test_a_dead_worker_fails_one_transfer_and_the_next_photo_works(setup: Any) -> None:
    telegram, _kie, transfers, answers = setup
    _send(telegram, transfers, b"\xff\xd8warm", 1)
    assert isinstance(answers.get(timeout=30), FileTransferred)
    for worker in _workers():
        os.kill(worker.pid, signal.SIGKILL)
    answers_after: list[Any] = []
    for n in (2, 3, 4):  # the first may meet the broken pool; one after it must not
        _send(telegram, transfers, b"\xff\xd8again-%d" % n, n)
        answers_after.append(answers.get(timeout=30))
        if isinstance(answers_after[-1], FileTransferred):
            break
    assert isinstance(answers_after[-1], FileTransferred), answers_after
    failed = [a for a in answers_after if isinstance(a, FileTransferFailed)]
    assert all(a.reason in ("telegram", "kie") for a in failed)  # retryable: asked again
