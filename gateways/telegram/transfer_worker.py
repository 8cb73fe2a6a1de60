"""The transfer worker: getFile → download from Telegram → KIE's upload API, for one file.

Runs in a process of its own (:class:`~gateways.telegram.files.FileTransfers` keeps a small
pool of them): a transfer moves megabytes through Python (chunks, the multipart body), and in
the node's process those copies hold the interpreter lock while the intake, the chat actors
and the delivery wait for it. Only a file id goes in and a URL comes out; the bytes never
cross into the node. Log records go back to the node through a queue, so they get the node's
format and redaction.

The Telegram file URL (``<api>/file/bot<TOKEN>/<path>``) holds the bot token: it is built
here, used for one GET, and never logged, raised or handed to anyone (errors carry only their
class name).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import threading
import time
from typing import Any

import requests

from gateways.kie.uploads import KieUploader
from trt_actors import KieError, KieFinal

__all__ = ["TELEGRAM_DOWNLOAD_LIMIT", "TransferError", "Transferrer", "start_worker",
           "transfer_in_worker"]

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
"""Bots may download files of at most 20 MB through the cloud Bot API."""


class TransferError(Exception):
    """A transfer failed; ``reason`` is ``too_big``, ``telegram`` or ``kie`` (may work
    later), ``gone`` (Telegram no longer has the file) or ``refused`` (KIE will not take it)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail

    def __reduce__(self) -> tuple[Any, ...]:  # crosses the process boundary
        return (TransferError, (self.reason, self.detail))


class Transferrer:
    """The whole path for one file, blocking."""

    def __init__(self, token: str, api_url: str, uploader: KieUploader, *,
                 timeout: float = 120.0, limit: int = TELEGRAM_DOWNLOAD_LIMIT) -> None:
        self._token = token
        self._api = api_url.rstrip("/")
        self._uploader = uploader
        self._timeout = timeout
        self.limit = limit
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"Transferrer(api={self._api!r})"

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


# --- the worker process ---------------------------------------------------------------------

_worker: Transferrer | None = None


def start_worker(token: str, api_url: str, uploader: KieUploader, timeout: float, limit: int,
                 log_queue: Any, log_level: int, node_pid: int) -> None:
    """The pool's initializer, once per worker process: the transferrer, logging into the
    node's queue, and a watch that ends this process when the node is gone (a ``kill -9``
    leaves no one to stop it)."""
    global _worker
    threading.Thread(target=_watch_node, args=(node_pid,), name="node-watch",
                     daemon=True).start()
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    root.setLevel(log_level)
    for noisy in ("urllib3", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _worker = Transferrer(token, api_url, uploader, timeout=timeout, limit=limit)


def _watch_node(node_pid: int, every: float = 1.0) -> None:
    while True:
        time.sleep(every)  # a watchdog's period, not synchronisation
        try:
            os.kill(node_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # alive, someone else's: cannot be ours
            os._exit(0)


def transfer_in_worker(file_id: str, name_hint: str, mime_type: str | None,
                       size: int | None) -> tuple[str, float]:
    """A pool task: :meth:`Transferrer.transfer` in this worker process."""
    if _worker is None:
        raise TransferError("telegram", "transfer worker not started")
    return _worker.transfer(file_id, name_hint=name_hint, mime_type=mime_type, size=size)
