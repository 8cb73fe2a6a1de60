"""KIE's file upload API: a user's file in, a URL a model accepts out.

``POST {TRT_KIE_UPLOAD_URL}/api/file-stream-upload`` (multipart: ``file``, ``uploadPath``,
``fileName``), ``Authorization: Bearer <key>``; the answer's ``data.downloadUrl`` goes into
the model's input. Blocking (``requests``): run it on the edge's transfer pool, never on an
actor's thread.

An upload creates no paid task, and a unique ``fileName`` per call means a repeated upload
only leaves a second temporary file: so every transient failure (connection, timeout, 429,
5xx) is retried here through the one retry helper, and whatever is left becomes
``KieRetryable``; KIE's refusals (400, 413, 422) become ``KieFinal``, a bad key
``KieAuthError``. Messages never carry the key.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from gateways.kie.callbacks import short_text
from gateways.kie.reports import body_code
from trt_actors import (
    Backoff,
    ConfigError,
    KieAuthError,
    KieFinal,
    KieRetryable,
    RetryPolicy,
    retry_after_seconds,
)

__all__ = ["STREAM_UPLOAD_PATH", "UPLOAD_FOLDER", "KieUploader", "Uploaded"]

log = logging.getLogger("trt.kie.upload")

STREAM_UPLOAD_PATH = "/api/file-stream-upload"
UPLOAD_FOLDER = "trt/user-uploads"
_MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True, slots=True)
class Uploaded:
    """What KIE answered for one upload."""

    url: str
    """``data.downloadUrl``: the model input."""
    file_name: str
    size: int


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class KieUploader:
    """Blocking client of KIE's stream upload endpoint."""

    def __init__(self, base_url: str, api_key: str, *, connect_timeout: float = 5.0,
                 read_timeout: float = 120.0, max_tries: int = 3, backoff_base: float = 0.5,
                 backoff_cap: float = 8.0, folder: str = UPLOAD_FOLDER) -> None:
        if not api_key or any(c.isspace() for c in api_key) or not api_key.isprintable():
            raise ConfigError("KIE API key is empty or contains whitespace/control characters")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"KIE upload URL must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.folder = folder
        self._api_key = api_key
        self._timeout = (connect_timeout, read_timeout)
        self._max_tries = max(1, max_tries)
        self._retry = RetryPolicy(Backoff(backoff_base, backoff_cap, jitter=(0.0, 1.0)),
                                  max_attempts=self._max_tries, max_wait=backoff_cap)
        self._session = requests.Session()
        self._args = (base_url, api_key, connect_timeout, read_timeout, max_tries,
                      backoff_base, backoff_cap, folder)

    def __repr__(self) -> str:
        return f"KieUploader(base_url={self.base_url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its settings (a transfer worker process builds its own session)."""
        (base_url, api_key, connect_timeout, read_timeout, max_tries, backoff_base,
         backoff_cap, folder) = self._args
        return (_rebuild, (base_url, api_key, connect_timeout, read_timeout, max_tries,
                           backoff_base, backoff_cap, folder))

    def close(self) -> None:
        self._session.close()

    @property
    def endpoint(self) -> str:
        return self.base_url + STREAM_UPLOAD_PATH

    def _safe(self, text: str) -> str:
        return text.replace(self._api_key, "***")[:500]

    def upload(self, data: bytes, *, name_hint: str = "file",
               mime_type: str | None = None) -> Uploaded:
        """Upload ``data`` under a new unique name; KIE's answer (``Uploaded.url``)."""
        if not data:
            raise KieFinal("upload: empty file")
        suffix = _suffix(name_hint)
        file_name = f"{uuid.uuid4().hex}{suffix}"
        what = f"upload {file_name} ({len(data)} bytes)"
        tries = 0
        while True:
            tries += 1
            try:
                return self._attempt(data, file_name, mime_type, what)
            except _Transient as exc:
                decision = self._retry.decide(tries, retry_after=exc.retry_after)
                if not decision.retry:
                    raise KieRetryable(f"{what}: {exc.reason}",
                                       retry_after=exc.retry_after) from None
                log.warning("KIE %s: %s; retry %d of %d in %.2f s", what, exc.reason, tries,
                            self._max_tries - 1, decision.delay)
                time.sleep(decision.delay)

    def probe(self) -> tuple[int, str]:
        """An authenticated POST without a file: creates nothing; (HTTP status, message).

        ``trt-node check`` reads it: 401 is a refused key, 404 no upload API at this base
        URL, and a 400 ("file required") means the endpoint is there and took the key.
        """
        resp = self._session.post(
            self.endpoint, data={"uploadPath": self.folder},
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=(5.0, 10.0), allow_redirects=False)
        body = _json(resp)
        msg = short_text(body.get("msg")) if isinstance(body, Mapping) else None
        code = body_code(body.get("code")) if isinstance(body, Mapping) else None
        return (code or resp.status_code), self._safe(msg or resp.reason or "")

    def _attempt(self, data: bytes, file_name: str, mime_type: str | None,
                 what: str) -> Uploaded:
        files = {"file": (file_name, data, mime_type or "application/octet-stream")}
        form = {"uploadPath": self.folder, "fileName": file_name}
        try:
            resp = self._session.post(
                self.endpoint, files=files, data=form,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise _Transient(self._safe(f"{type(exc).__name__}: {exc}")) from None
        body = _json(resp)
        code = msg = None
        if isinstance(body, Mapping):
            code = body_code(body.get("code"))
            msg = short_text(body.get("msg")) or short_text(body.get("message"))
        status = resp.status_code
        effective = status if code is None or (code == 200 and status >= 300) else code
        reason = self._safe(f"HTTP {status}, code {effective}: {msg or resp.reason or ''}")
        if 200 <= effective < 300:
            got = body.get("data") if isinstance(body, Mapping) else None
            url = got.get("downloadUrl") if isinstance(got, Mapping) else None
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                size = got.get("fileSize") if isinstance(got, Mapping) else None
                return Uploaded(url, file_name, size if isinstance(size, int) else len(data))
            raise _Transient(f"answer without a downloadUrl ({reason})")
        if effective in (401, 402):
            raise KieAuthError(f"{what}: {reason}", code=effective)
        if effective == 429 or 500 <= effective < 600:
            raise _Transient(reason, retry_after_seconds(
                resp.headers.get("Retry-After"), limit=_MAX_RETRY_AFTER))
        raise KieFinal(f"{what}: {reason}", code=effective)


def _rebuild(base_url: str, api_key: str, connect_timeout: float, read_timeout: float,
             max_tries: int, backoff_base: float, backoff_cap: float,
             folder: str) -> KieUploader:
    return KieUploader(base_url, api_key, connect_timeout=connect_timeout,
                       read_timeout=read_timeout, max_tries=max_tries,
                       backoff_base=backoff_base, backoff_cap=backoff_cap, folder=folder)


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except (ValueError, RecursionError):
        return None


def _suffix(name_hint: str) -> str:
    """A short, safe extension from the hint (``photo.jpg`` → ``.jpg``), else none."""
    _, dot, ext = name_hint.rpartition(".")
    if dot and 1 <= len(ext) <= 5 and ext.isalnum():
        return "." + ext.lower()
    return ""
