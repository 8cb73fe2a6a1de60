"""Users' files to KIE: getFile → download from Telegram → KIE's upload API (``TransferPort``).

The transfers run in a small pool of worker processes of their own
(:mod:`~gateways.telegram.transfer_worker`), so a 20 MB transfer holds no actor's thread, and
its megabytes of copying do not hold the node's interpreter lock while other users wait (P7
in BENCHMARKS.md). The outcome goes back to the chat actor as a message. The workers start
on the first file and are started again if one dies (the transfer it had fails as
retryable, and the user is asked again). Linux and macOS (a fork server).
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from gateways.kie.uploads import KieUploader
from gateways.telegram.transfer_worker import (
    TELEGRAM_DOWNLOAD_LIMIT,
    TransferError,
    start_worker,
    transfer_in_worker,
)
from trt_actors import (
    FileTransferFailed,
    FileTransferred,
    KieFinal,
    KieRetryable,
    TransferFile,
)

__all__ = ["TELEGRAM_DOWNLOAD_LIMIT", "FileTransfers", "TransferError"]

log = logging.getLogger("trt.files")


class _ToOwnLogger(logging.Handler):
    """A worker's record, handled here by the logger of its name: the node's handlers
    (format, context, redaction) apply as to any record of the node's own."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


class FileTransfers:
    """The node's ``TransferPort``: a pool of transfer processes owned by the edge."""

    def __init__(self, token: str, api_url: str, uploader: KieUploader,
                 deliver: Callable[[int, Any], None], *, workers: int = 4,
                 timeout: float = 120.0, limit: int = TELEGRAM_DOWNLOAD_LIMIT) -> None:
        self._deliver = deliver
        self._workers = workers
        self.limit = limit
        # A fork server (never a fork of this threaded process) that has imported the worker
        # module once: the workers after the first start in milliseconds.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([transfer_in_worker.__module__])
        self._logs: Any = self._context.Queue()
        self._listener = logging.handlers.QueueListener(self._logs, _ToOwnLogger())
        self._listener.start()
        self._initargs = (token, api_url, uploader, timeout, limit, self._logs,
                          logging.getLogger().getEffectiveLevel(), os.getpid())
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"FileTransfers(workers={self._workers})"

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self._listener.stop()

    def _submit(self, *args: Any) -> Future[tuple[str, float]]:
        with self._lock:
            if self._closed:
                raise RuntimeError("file transfers closed")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._workers, mp_context=self._context, initializer=start_worker,
                    initargs=self._initargs)
            pool = self._pool
        try:
            return pool.submit(transfer_in_worker, *args)
        except BrokenProcessPool:
            self._lost(pool)
            raise TransferError("telegram", "transfer worker died") from None

    def _lost(self, pool: ProcessPoolExecutor) -> None:
        """A worker died (killed, out of memory): the next transfer starts a new pool."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)
        log.error("a transfer worker process died; starting new ones")

    # --- TransferPort ---

    def start(self, request: TransferFile) -> None:
        began = time.monotonic()
        try:
            future = self._submit(request.file_id, request.name_hint, request.mime_type,
                                  request.size)
        except (TransferError, RuntimeError) as exc:
            self._answer(request, exc, began)
            return
        future.add_done_callback(lambda done: self._finished(request, done, began))

    def reupload(self, file_id: str, *, name_hint: str = "file",
                 mime_type: str | None = None, timeout: float = 60.0) -> tuple[str, float]:
        # In a worker process, so the caller (a job actor) waits at most ``timeout``.
        try:
            future = self._submit(file_id, name_hint, mime_type, None)
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise KieRetryable(f"re-upload: no answer within {timeout:.0f} s") from None
        except BrokenProcessPool:
            raise KieRetryable("re-upload: the transfer worker died") from None
        except TransferError as exc:
            if exc.reason in ("too_big", "gone", "refused"):
                raise KieFinal(f"re-upload: {exc}") from None
            raise KieRetryable(f"re-upload: {exc}") from None

    # --- outcomes ---

    def _finished(self, request: TransferFile, done: Future[tuple[str, float]],
                  began: float) -> None:
        if done.cancelled():
            return  # the node is stopping
        exc = done.exception()
        if isinstance(exc, BrokenProcessPool):
            with self._lock:
                pool = self._pool
            if pool is not None:
                self._lost(pool)
        self._answer(request, exc if exc is not None else done.result(), began)

    def _answer(self, request: TransferFile, outcome: Any, began: float) -> None:
        answer: Any
        if isinstance(outcome, TransferError):
            log.warning("transfer %s of chat %s failed: %s", request.transfer_id,
                        request.chat_id, outcome)
            answer = FileTransferFailed(request.chat_id, request.transfer_id, outcome.reason)
        elif isinstance(outcome, BaseException):  # never let a result vanish silently
            log.error("transfer %s of chat %s failed: %s", request.transfer_id,
                      request.chat_id, type(outcome).__name__)
            answer = FileTransferFailed(request.chat_id, request.transfer_id, "kie")
        else:
            url, uploaded_at = outcome
            log.info("transfer %s of chat %s done in %.2f s", request.transfer_id,
                     request.chat_id, time.monotonic() - began)
            answer = FileTransferred(request.chat_id, request.transfer_id, url, uploaded_at)
        try:
            self._deliver(request.chat_id, answer)
        except Exception as exc:
            log.error("transfer %s: result not delivered: %s", request.transfer_id,
                      type(exc).__name__)
