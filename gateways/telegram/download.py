"""Downloading a result file for an upload, when Telegram cannot fetch its URL itself.

Blocking (``requests``, streamed); delivery runs it with ``asyncio.to_thread``. Refuses more
than ``limit`` bytes or ``timeout`` seconds, so one huge or slow file cannot stall a chat.
"""

from __future__ import annotations

import time
from urllib.parse import unquote, urlsplit

import requests


class DownloadFailed(Exception):
    """The result file could not be downloaded for an upload."""


def download(url: str, *, limit: int, timeout: float) -> bytes:
    """GET ``url`` streamed, refusing more than ``limit`` bytes or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, stream=True, timeout=(5.0, min(timeout, 30.0))) as response:
            response.raise_for_status()
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise DownloadFailed(f"{int(declared)} bytes is over the {limit} byte limit")
            body = bytearray()
            for chunk in response.iter_content(256 * 1024):
                body += chunk
                if len(body) > limit:
                    raise DownloadFailed(f"over the {limit} byte limit")
                if time.monotonic() > deadline:
                    raise DownloadFailed(f"took longer than {timeout:.0f} s")
    except requests.RequestException as exc:
        raise DownloadFailed(type(exc).__name__) from exc
    if not body:
        raise DownloadFailed("empty file")
    return bytes(body)


def file_name(url: str, fallback: str) -> str:
    """The upload's file name: the URL's last path segment."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or fallback
