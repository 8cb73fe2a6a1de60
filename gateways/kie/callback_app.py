"""The KIE callback gateway: check, store, answer, hand off — nothing slow in the handler.

``POST /kie/callback/<job id>.<secret>``: the body is parsed (never raising), the token is
checked in constant time against the job's secret (and KIE's HMAC signature when
``TRT_KIE_HMAC_KEY`` is set), the raw body is written to the callback inbox (deduplicated by
a hash of token and body), the answer goes out, and only then is the observation routed to
the job actor. No KIE or Telegram I/O ever happens here; the one database write runs on a
small executor so the loop never blocks.

Answers (documented for operators and KIE):
  200  stored: applied later, a duplicate, parked as an orphan (unknown job), or recorded as
       malformed (authenticated but not understood — polling covers the job).
  403  forged: a token that is not ours or a bad/stale signature. Recorded as ``rejected``;
       nothing changes. 403 rather than 2xx so a misconfigured HMAC key shows up in KIE's
       logs, and it tells a forger nothing a 200 would not.
  404  a path that is not a callback route (``/kie/callback`` without a token is accepted only
       when HMAC is configured, because then the signature authenticates it).
  413  body over 1 MB. Bodies up to 16 MB are read and thrown away (never kept) so the sender
       gets the answer instead of a reset connection; beyond that the connection is closed.
  429  the source address sent too many forged callbacks lately (``gateways.kie.abuse``):
       refused for a while without touching the database. Never a source that delivered an
       authentic callback lately, nor a callback with a valid HMAC signature.
  503  the database is down: nothing was stored, so KIE should retry; polling covers it too.

What is kept: a rejected callback leaves a record (sha256, size, first KB, source, reason),
never its body; a parked orphan keeps its body (its job may claim it) within the orphan cap
(``trt_actors.orphans``: over it, the oldest are expired to records).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import tornado.http1connection
import tornado.ioloop
import tornado.web

from gateways.http_thread import HttpThread
from gateways.kie.abuse import AbusePolicy, SourceLimiter, record_of, source_key
from gateways.kie.callbacks import ParsedCallback, parse_callback, tokens_equal, verify_signature
from gateways.published import Published
from supervision import SupervisedActor
from trt_actors import (
    CheckAlive,
    GetCallbackStats,
    GetUrl,
    OrphanCap,
    Router,
    Source,
    Store,
    StoreError,
    TaskObserved,
    TaskReport,
    Tx,
    metrics,
    orphans,
)

log = logging.getLogger("trt.callbacks")

_TOKEN = re.compile(r"^(\d{1,18})\.([A-Za-z0-9_-]{16,64})$")
MAX_BODY = 1 << 20
_DRAIN_LIMIT = 16 * MAX_BODY


def _text(value: str) -> str:
    """Text safe for a PostgreSQL text/jsonb column and a log line: a forged token may hold a
    NUL or a lone surrogate, which PostgreSQL refuses (that must be a 403, not a 503)."""
    if value.isascii() and value.isprintable():
        return value[:300]
    return ascii(value)[1:-1][:300]


@dataclass
class CallbackStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    parked: int = 0
    rejected: int = 0
    malformed: int = 0
    routed: int = 0
    refused: int = 0
    """429 answers: the source sent too many forged callbacks lately."""
    capped: int = 0
    """Parked orphans this gateway expired because the orphan cap was reached."""
    db_errors: int = 0
    last_latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class _Verdict:
    status: str | None  # None → pending or parked, decided by the insert
    job_id: int | None
    reason: str | None
    authentic: bool = False
    """The job's secret or KIE's signature vouched for it (its source is trusted)."""


class CallbackReceiver:
    """What the handler needs, shared by every request."""

    def __init__(self, store: Store, jobs: Router, hmac_key: str | None,
                 abuse: AbusePolicy | None = None, orphan_cap: OrphanCap | None = None,
                 owns: Callable[[int], bool] = lambda chat_id: True) -> None:
        self.store, self.jobs, self.hmac_key = store, jobs, hmac_key
        self.owns = owns
        """Whether this worker owns a chat's jobs (several workers: any of them takes a
        callback; the job's owner applies it, woken through the database)."""
        self.executor = ThreadPoolExecutor(4, thread_name_prefix="callback-db")
        self.stats = CallbackStats()
        self.limiter = SourceLimiter(abuse)
        self.orphan_cap = orphan_cap or OrphanCap()

    def dispatch(self, row: dict[str, Any], report: TaskReport) -> None:
        """A stored callback to its job's actor: here, or at the worker that owns it."""
        chat_id = row.get("chat_id")
        if chat_id is None or self.owns(int(chat_id)):
            self.jobs.route(row["job_id"], TaskObserved(
                row["job_id"], report, Source.CALLBACK, row["id"]))
            return
        self.executor.submit(self._wake, f"c:{chat_id}:{row['job_id']}:{row['id']}")

    def _wake(self, payload: str) -> None:
        try:
            self.store.one("wake", payloads=[payload])
        except StoreError as exc:  # stored all the same: the owner's janitor replays it
            log.info("callback stored; its owner not woken (%s)", exc)

    def stats_snapshot(self) -> dict[str, Any]:
        """A copy of the counters (any thread: each is a number the loop replaces whole)."""
        return {**self.stats.__dict__, **self.limiter.snapshot()}

    def signed(self, parsed: ParsedCallback, headers: dict[str, str]) -> bool:
        """KIE's HMAC signature is valid (only when ``TRT_KIE_HMAC_KEY`` is set)."""
        return bool(self.hmac_key) and verify_signature(
            str(self.hmac_key), parsed.task_id or "", headers.get("X-Webhook-Timestamp", ""),
            headers.get("X-Webhook-Signature", ""), now=time.time())

    def authenticate(self, tx: Tx, token: str | None, parsed: ParsedCallback,
                     headers: dict[str, str]) -> _Verdict:
        """Runs on the executor (reads the job's secret)."""
        signed = self.signed(parsed, headers)
        if self.hmac_key and not signed:
            return _Verdict("rejected", None, "bad or stale webhook signature")
        job_id = None
        if token is not None:
            match = _TOKEN.fullmatch(token)
            if match is None:
                return _Verdict("rejected", None, "malformed token")
            row = tx.one("job_secret", job_id=int(match[1]))
            if row is None:
                return _Verdict(None, None, "no such job (yet)", signed)  # parked
            if not tokens_equal(match[2], row["callback_token"]):
                return _Verdict("rejected", None, "token does not match the job")
            job_id = row["id"]
        if parsed.task_id is None or parsed.report is None:
            return _Verdict("malformed", job_id, parsed.problem or "not understood", True)
        return _Verdict(None, job_id, None, True)

    def store_callback(self, token: str | None, body: bytes, headers: dict[str, str],
                       parsed: ParsedCallback, source: str
                       ) -> tuple[_Verdict, dict[str, Any] | None, int]:
        """Authenticate and store; returns the verdict, the stored row (None: a duplicate)
        and how many parked orphans the cap expired to make room."""
        kept = {k: _text(v) for k, v in headers.items()
                if k.lower() in ("content-type", "user-agent", "x-webhook-timestamp")}
        stored_token = _text(token) if token is not None else None
        with self.store.statements() as tx:  # one connection: the secret's read, the insert
            verdict = self.authenticate(tx, token, parsed, headers)
            # A rejected body is anyone's: only its record is kept, never the bytes.
            record = record_of(body, whole=verdict.status != "rejected")
            params = dict(
                token=stored_token, task_id=parsed.task_id,
                dedup_key=hashlib.sha256((stored_token or "").encode() + b"\0" + body
                                         ).hexdigest(),
                body=record.body, headers=json.dumps(kept), status=verdict.status,
                job_id=verdict.job_id, reason=verdict.reason, body_size=record.size,
                body_sha256=record.sha256, source=_text(source))
            if verdict.status is not None or verdict.job_id is not None:
                return verdict, tx.one("inbox_insert", **params), 0
            # It may be parked: the insert and the trim commit together under the cap's lock,
            # so no one ever sees the parked callbacks over the cap, even during a flood.
            with tx.savepoint():
                tx.one("orphans_lock")
                row = tx.one("inbox_insert", **params)
                parked = row is not None and row["status"] == "parked"
                capped = orphans.trim(tx, self.orphan_cap) if parked else 0
        return verdict, row, capped


@tornado.web.stream_request_body
class CallbackHandler(tornado.web.RequestHandler):
    ctx: CallbackReceiver

    def initialize(self, ctx: CallbackReceiver) -> None:
        self.ctx = ctx
        self._chunks: list[bytes] = []
        self._size = 0

    def check_xsrf_cookie(self) -> None:  # machine-to-machine endpoint
        return None

    def prepare(self) -> None:
        # Tornado itself would answer an oversized body with a bare 400 and close the socket
        # while the sender is still writing (it sees a reset, not an answer): read it here
        # instead, keeping at most MAX_BODY, and answer 413 in post().
        connection = cast(tornado.http1connection.HTTP1Connection, self.request.connection)
        connection.set_max_body_size(_DRAIN_LIMIT)

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= MAX_BODY:
            self._chunks.append(chunk)
        else:
            self._chunks.clear()

    async def post(self, token: str | None = None) -> None:
        started = time.perf_counter()
        ctx = self.ctx
        ctx.stats.received += 1
        if token is None and not ctx.hmac_key:
            self.set_status(404)
            self.finish({"ok": False})
            return
        source = self.request.remote_ip or ""
        key = source_key(source)
        headers = dict(self.request.headers)
        left = ctx.limiter.refused(key)
        if left is not None and not (ctx.hmac_key and self._size <= MAX_BODY and ctx.signed(
                parse_callback(b"".join(self._chunks)), headers)):
            ctx.stats.refused += 1
            self.set_status(429)
            self.set_header("Retry-After", str(ctx.limiter.retry_after(left)))
            self.finish({"ok": False, "error": "too many forged callbacks from this address"})
            return
        if self._size > MAX_BODY:
            self.set_status(413)
            self.finish({"ok": False, "error": "body over 1 MB"})
            return
        body = b"".join(self._chunks)
        parsed = parse_callback(body)
        loop = tornado.ioloop.IOLoop.current()
        try:
            verdict, row, capped = await loop.run_in_executor(
                ctx.executor, ctx.store_callback, token, body, headers, parsed, source)
        except StoreError as exc:
            ctx.stats.db_errors += 1
            log.warning("callback not stored: %s", exc, extra={"task_id": parsed.task_id})
            self.set_status(503)
            self.finish({"ok": False, "error": "temporarily unavailable"})
            return
        ctx.stats.capped += capped
        if verdict.status == "rejected":
            ctx.stats.rejected += 1
            ctx.limiter.forged(key)
            log.warning("forged callback rejected: %s", verdict.reason,
                        extra={"task_id": parsed.task_id})
            self.set_status(403)
            self.finish({"ok": False})
            return
        if verdict.authentic:
            ctx.limiter.authentic(key)
        self.finish({"ok": True})
        ctx.stats.last_latency_ms = (time.perf_counter() - started) * 1000
        metrics.CALLBACK_SECONDS.observe(ctx.stats.last_latency_ms / 1000)
        if row is None:
            ctx.stats.duplicates += 1
            return
        ctx.stats.stored += 1
        if row["status"] == "parked":
            ctx.stats.parked += 1
        elif row["status"] == "malformed":
            ctx.stats.malformed += 1
        elif row["status"] == "pending" and parsed.report is not None:
            ctx.stats.routed += 1
            ctx.dispatch(row, parsed.report)


class _App(tornado.web.Application):
    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """Tornado's access log, but not a refused (429) request: a flood of them would fill
        the log instead of the database (the refusal is logged once, when it starts)."""
        if handler.get_status() != 429:
            super().log_request(handler)


def make_app(ctx: CallbackReceiver) -> tornado.web.Application:
    return _App([
        (r"/kie/callback/([^/]+)", CallbackHandler, {"ctx": ctx}),
        (r"/kie/callback/?", CallbackHandler, {"ctx": ctx}),
    ])


class Callbacks(SupervisedActor):
    """Permanent child: owns the Tornado thread; if the thread dies, so does the actor.
    Publishes its counters to ``published`` (a copy, read from any thread)."""

    def __init__(self, store: Store, jobs: Router, host: str, port: int,
                 hmac_key: str | None = None, *, published: Published | None = None,
                 abuse: AbusePolicy | None = None, orphan_cap: OrphanCap | None = None,
                 owns: Callable[[int], bool] = lambda chat_id: True,
                 reuse_port: bool = False) -> None:
        super().__init__()
        self.ctx = CallbackReceiver(store, jobs, hmac_key, abuse, orphan_cap, owns)
        self.server = HttpThread("callbacks", make_app(self.ctx), host, port,
                                 max_body_size=MAX_BODY, reuse_port=reuse_port)
        if published is not None:
            published.publish(self.ctx.stats_snapshot)

    def on_start(self) -> None:
        self.server.start()

    def on_stop(self) -> None:
        self.server.stop()
        self.ctx.executor.shutdown(wait=False)

    def on_failure(self, *exc_info: Any) -> None:
        self.on_stop()

    def on_receive(self, message: Any) -> Any:
        match message:
            case GetUrl():
                return self.server.url
            case GetCallbackStats():
                return self.ctx.stats_snapshot()
            case CheckAlive():
                if not self.server.alive:
                    raise RuntimeError("callback server thread died")
            case _:
                log.warning("callbacks: unexpected message %r", message)
        return None

