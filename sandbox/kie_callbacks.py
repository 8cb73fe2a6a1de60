"""Background sender of the emulator's callbacks (runs on the emulator's IOLoop).

Callbacks of one task go out one after another (a chain per task id), so the receiver sees
them in the planned order unless the ``out_of_order`` fault reorders the plan itself. Each
delivery is one POST with KIE's 15 s answer timeout; any 2xx counts as delivered; failures
are retried only when ``callback_retries`` > 0 (KIE's retries are undocumented).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.netutil import DefaultExecutorResolver, Resolver

from sandbox.kie_core import EmulatorCore
from sandbox.kie_families import callback_body
from sandbox.kie_tasks import Task

_STALE_BY_S = 3600


def sign(webhook_key: str, task_id: str, timestamp: str) -> str:
    """KIE's signature: base64(HMAC-SHA256(key, taskId + "." + timestamp))."""
    digest = hmac.new(webhook_key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _flip_last(text: str) -> str:
    if not text:
        return "x"
    return text[:-1] + ("b" if text[-1] == "a" else "a")


def alter_token(url: str) -> str:
    """The callback URL with its token damaged: last char of each query value, else of the
    last path segment (same length, so constant-time compares still run)."""
    parts = urlsplit(url)
    if parts.query:
        query = urlencode([(k, _flip_last(v)) for k, v in parse_qsl(parts.query, True)])
        return urlunsplit(parts._replace(query=query))
    segments = parts.path.split("/")
    for i in range(len(segments) - 1, -1, -1):
        if segments[i]:
            segments[i] = _flip_last(segments[i])
            break
    else:
        segments.append("x")
    return urlunsplit(parts._replace(path="/".join(segments)))


def render(body: dict[str, Any], malformed: str | None) -> str:
    """The body text, damaged according to the ``malformed`` mode when given."""
    text = json.dumps(body)
    if malformed == "truncated":
        return text[: len(text) // 2]
    if malformed == "not_json":
        return "<html><body>upstream error</body></html>"
    if malformed == "wrong_types":
        broken = {k: v for k, v in body.items() if k != "data"}
        broken["code"] = str(body.get("code"))
        broken["data"] = json.dumps(body.get("data"))
        for key in ("msg", "message"):
            if key in broken:
                broken[key] = None
        return json.dumps(broken)
    return text


class _NumericFirstResolver(Resolver):
    """Resolves IP literals (and localhost) inline; only real names go to a thread.

    Tornado's default resolver hops to a thread pool for every callback, which at benchmark
    rates costs more than the callback itself.
    """

    def initialize(self) -> None:
        self._fallback = DefaultExecutorResolver()

    async def resolve(self, host: str, port: int,
                      family: socket.AddressFamily = socket.AF_UNSPEC) -> list[tuple[int, Any]]:
        numeric = "127.0.0.1" if host == "localhost" else host
        try:
            infos = socket.getaddrinfo(numeric, port, family, socket.SOCK_STREAM, 0,
                                       socket.AI_NUMERICHOST)
        except socket.gaierror:
            return await self._fallback.resolve(host, port, family)
        return [(fam, addr) for fam, _, _, _, addr in infos]

    def close(self) -> None:
        self._fallback.close()


class CallbackSender:
    """Sends callbacks with tornado's AsyncHTTPClient; create it on the emulator's loop."""

    def __init__(self, core: EmulatorCore, max_clients: int = 200) -> None:
        self.core = core
        self._resolver = _NumericFirstResolver()
        self.client = AsyncHTTPClient(force_instance=True, max_clients=max_clients,
                                      resolver=self._resolver)
        self._chains: dict[str, asyncio.Future[None]] = {}

    def close(self) -> None:
        self.client.close()
        self._resolver.close()

    def dispatch(self, task: Task, kinds: tuple[str, ...]) -> asyncio.Future[None]:
        """Queue ``kinds`` for ``task`` behind its earlier callbacks; the future ends when sent."""
        previous = self._chains.get(task.task_id)
        future = asyncio.ensure_future(self._run(task, kinds, previous, self.core.generation))
        self._chains[task.task_id] = future

        def forget(done: asyncio.Future[None]) -> None:
            if self._chains.get(task.task_id) is done:
                del self._chains[task.task_id]

        future.add_done_callback(forget)
        return future

    async def _run(self, task: Task, kinds: tuple[str, ...],
                   previous: asyncio.Future[None] | None, generation: int) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        for kind in kinds:
            await self._deliver(task, kind, generation)

    async def _deliver(self, task: Task, kind: str, generation: int) -> None:
        core = self.core
        with core.lock:
            cfg = core.config
            body = callback_body(task, kind, core.clock(), core.media_base(), cfg.message_key)
            timeout, retries = cfg.callback_timeout_s, cfg.callback_retries
            retry_delay = cfg.callback_retry_delay_s
        faults = core.callback_faults(task)
        url = alter_token(task.callback_url or "") if "wrong_token" in faults else task.callback_url
        raw = render(body, faults.get("malformed"))
        entry = {"task_id": task.task_id, "family": task.family, "model": task.model,
                 "kind": kind, "url": url, "body": raw, "json": _parse(raw),
                 "faults": sorted(faults)}
        if "drop" in faults:
            core.record_callback({**entry, "status": None, "ok": False, "error": "dropped",
                                  "sent_at": time.time()}, generation, dropped=True)
            return
        if "delay" in faults:
            await asyncio.sleep(float(faults["delay"]))
        for copy in range(max(int(faults.get("duplicate", 1)), 1)):
            for attempt in range(max(retries, 0) + 1):
                headers = self._headers(task, faults)
                status, error = await self._post(str(url), raw, headers, timeout)
                ok = status is not None and 200 <= status < 300
                core.record_callback({**entry, "status": status, "ok": ok, "error": error,
                                      "copy": copy, "attempt": attempt, "headers": headers,
                                      "sent_at": time.time()}, generation, dropped=False)
                if ok or attempt >= retries:
                    break
                await asyncio.sleep(retry_delay)

    def _headers(self, task: Task, faults: dict[str, Any]) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "kie-emulator"}
        key = self.core.webhook_key
        if key is None and "wrong_hmac" not in faults:
            return headers
        now = int(time.time())
        stamp = str(now - _STALE_BY_S if "stale_timestamp" in faults else now)
        signing_key = (key or "") + "-wrong" if "wrong_hmac" in faults else str(key)
        headers["X-Webhook-Timestamp"] = stamp
        headers["X-Webhook-Signature"] = sign(signing_key, task.task_id, stamp)
        return headers

    async def _post(self, url: str, raw: str, headers: dict[str, str],
                    timeout: float) -> tuple[int | None, str | None]:
        request = HTTPRequest(url, method="POST", body=raw, headers=headers,
                              request_timeout=timeout, connect_timeout=min(timeout, 5.0),
                              follow_redirects=False)
        try:
            response = await self.client.fetch(request, raise_error=False)
        except Exception as exc:  # bad URL, DNS: the callback simply fails, as at KIE
            return None, type(exc).__name__
        if response.code == 599:
            return None, type(response.error).__name__ if response.error else "network error"
        return response.code, None


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
