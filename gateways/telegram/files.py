"""Users' files to KIE: getFile → download from Telegram → KIE's upload API (``TransferPort``).

Runs on a small pool of its own threads, so a 20 MB transfer holds no actor's thread and
delays no other user; the result goes back to the chat actor as a message. The Telegram
file URL (``<api>/file/bot<TOKEN>/<path>``) holds the bot token: it is built here, used for
one GET, and never logged, raised or handed to anyone (errors carry only their class name).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import requests

from gateways.kie.uploads import KieUploader
from trt_actors import (
    FileTransferFailed,
    FileTransferred,
    KieError,
    KieFinal,
    KieRetryable,
    TransferFile,
)

__all__ = ["TELEGRAM_DOWNLOAD_LIMIT", "FileTransfers", "TransferError"]

log = logging.getLogger("trt.files")

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
"""Bots may download files of at most 20 MB through the cloud Bot API."""


class TransferError(Exception):
    """A transfer failed; ``reason`` is ``too_big``, ``telegram`` or ``kie`` (may work
    later), ``gone`` (Telegram no longer has the file) or ``refused`` (KIE will not take it)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class FileTransfers:
    """The node's ``TransferPort``: a transfer pool owned by the edge."""

    def __init__(self, token: str, api_url: str, uploader: KieUploader,
                 deliver: Callable[[int, Any], None], *, workers: int = 4,
                 timeout: float = 120.0, limit: int = TELEGRAM_DOWNLOAD_LIMIT) -> None:
        self._token = token
        self._api = api_url.rstrip("/")
        self._uploader = uploader
        self._deliver = deliver
        self._timeout = timeout
        self.limit = limit
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="transfer")
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"FileTransfers(api={self._api!r})"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    # --- TransferPort ---

    def start(self, request: TransferFile) -> None:
        self._pool.submit(self._run, request)

    def reupload(self, file_id: str, *, name_hint: str = "file",
                 mime_type: str | None = None, timeout: float = 60.0) -> tuple[str, float]:
        # On the transfer pool, so the caller (a job actor) waits at most ``timeout``.
        future = self._pool.submit(self.transfer, file_id, name_hint=name_hint,
                                   mime_type=mime_type)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise KieRetryable(f"re-upload: no answer within {timeout:.0f} s") from None
        except TransferError as exc:
            if exc.reason in ("too_big", "gone", "refused"):
                raise KieFinal(f"re-upload: {exc}") from None
            raise KieRetryable(f"re-upload: {exc}") from None

    # --- the work ---

    def _run(self, request: TransferFile) -> None:
        began = time.monotonic()
        try:
            url, uploaded_at = self.transfer(request.file_id, name_hint=request.name_hint,
                                             mime_type=request.mime_type, size=request.size)
        except TransferError as exc:
            log.warning("transfer %s of chat %s failed: %s", request.transfer_id,
                        request.chat_id, exc)
            answer: Any = FileTransferFailed(request.chat_id, request.transfer_id, exc.reason)
        except Exception as exc:  # never let the pool swallow a result silently
            log.error("transfer %s of chat %s failed: %s", request.transfer_id,
                      request.chat_id, type(exc).__name__)
            answer = FileTransferFailed(request.chat_id, request.transfer_id, "kie")
        else:
            log.info("transfer %s of chat %s done in %.2f s", request.transfer_id,
                     request.chat_id, time.monotonic() - began)
            answer = FileTransferred(request.chat_id, request.transfer_id, url, uploaded_at)
        try:
            self._deliver(request.chat_id, answer)
        except Exception as exc:
            log.error("transfer %s: result not delivered: %s", request.transfer_id,
                      type(exc).__name__)

    def transfer(self, file_id: str, *, name_hint: str = "file", mime_type: str | None = None,
                 size: int | None = None) -> tuple[str, float]:
        """Blocking: the whole path for one file; (KIE's downloadUrl, upload time)."""
        if size is not None and size > self.limit:
            raise TransferError("too_big", f"{size} bytes")
        path = self._file_path(file_id)
        data = self._download(path)
        try:
            uploaded = self._uploader.upload(data, name_hint=name_hint, mime_type=mime_type)
        except KieFinal as exc:  # (KieAuthError too: the account is refused)
            raise TransferError("refused", str(exc)) from None
        except KieError as exc:
            raise TransferError("kie", str(exc)) from None
        return uploaded.url, time.time()

    def _file_path(self, file_id: str) -> str:
        try:
            resp = self._session.post(f"{self._api}/bot{self._token}/getFile",
                                      json={"file_id": file_id}, timeout=(5.0, 30.0))
            body = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise TransferError("telegram", f"getFile: {type(exc).__name__}") from None
        if not isinstance(body, dict) or not body.get("ok"):
            text = str(body.get("description") if isinstance(body, dict) else "")[:200]
            if "too big" in text.lower():
                raise TransferError("too_big", "getFile: file is too big")
            if resp.status_code == 400:  # "wrong file_id or the file is temporarily unavailable"
                raise TransferError("gone", f"getFile: HTTP 400 "
                                            f"{text.replace(self._token, '***')}")
            raise TransferError("telegram", f"getFile: HTTP {resp.status_code} "
                                            f"{text.replace(self._token, '***')}")
        result = body.get("result") or {}
        size = result.get("file_size")
        if isinstance(size, int) and size > self.limit:
            raise TransferError("too_big", f"{size} bytes")
        path = result.get("file_path")
        if not isinstance(path, str) or not path:
            raise TransferError("telegram", "getFile: no file_path")
        return path

    def _download(self, path: str) -> bytes:
        deadline = time.monotonic() + self._timeout
        body = bytearray()
        try:
            with self._session.get(f"{self._api}/file/bot{self._token}/{path}", stream=True,
                                   timeout=(5.0, 30.0)) as resp:
                if resp.status_code in (400, 404):  # just asked for: the file is gone
                    raise TransferError("gone", f"download: HTTP {resp.status_code}")
                if resp.status_code != 200:
                    raise TransferError("telegram", f"download: HTTP {resp.status_code}")
                for chunk in resp.iter_content(256 * 1024):
                    body += chunk
                    if len(body) > self.limit:
                        raise TransferError("too_big", "download over the limit")
                    if time.monotonic() > deadline:
                        raise TransferError("telegram", "download timed out")
        except requests.RequestException as exc:
            raise TransferError("telegram", f"download: {type(exc).__name__}") from None
        if not body:
            raise TransferError("telegram", "download: empty file")
        return bytes(body)
