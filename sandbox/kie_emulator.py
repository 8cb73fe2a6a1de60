"""An emulated KIE AI (every family the catalog uses) over real HTTP, with fault injection.

Independent of the product: imports nothing from ``trt_actors``, ``gateways`` or
``supervision``. Contract: /work/shared/kie-api.md.

Python::

    emu = KieEmulator("KEY", webhook_key=None, seed=0, duration_s=0.2).start()
    emu.url                    # "http://127.0.0.1:<port>" -- KIE base URL for the client
    emu.configure(duration_s=0, rate_limits=False)     # partial update, returns full config
    emu.set_faults({...})      # replaces ALL faults (same JSON as POST /_control/faults)
    emu.clear_faults(); emu.reset()                    # reset: tasks, stats, faults, rng
    emu.stats(details=True)    # same JSON as GET /_control/stats[?details=0]
    emu.task(task_id)          # one entry of stats()["tasks"], or None
    emu.callbacks()            # stats()["callbacks"]
    emu.wait_for_callbacks(3, timeout=5.0, task_id=None)   # -> list, or TimeoutError
    emu.finish_task(task_id, "success" | "fail", code="500", msg="...")  # end (stuck) task now
    emu.stop()                 # also a context manager: ``with KieEmulator(...) as emu:``

CLI: ``python -m sandbox.kie_emulator --port 8090 --api-key KEY [--webhook-key K]
[--seed 0] [--duration 0.5] [--no-rate-limits]``; runs until Ctrl-C.

API (``Authorization: Bearer <key>``; wrong/missing key -> HTTP 401, body code 401)
    POST /api/v1/jobs/createTask      GET /api/v1/jobs/recordInfo?taskId=
    POST /api/v1/veo/generate         GET /api/v1/veo/record-info?taskId=
    POST /api/v1/generate  (Suno)     GET /api/v1/generate/record-info?taskId=
    POST /api/v1/veo/extend, /api/v1/veo/get-4k-video (Veo's record-info reports them)
    GET  /api/v1/veo/get-1080p-video?taskId=&index= (the 1080p URL once ready, else 422)
    POST /api/v1/generate/extend (Suno extend; Suno's record-info reports it)
    POST /api/v1/runway/generate | /api/v1/runway/extend   GET /api/v1/runway/record-detail
    POST /api/v1/aleph/generate       GET /api/v1/aleph/record-info
    POST /api/v1/mj/generate          GET /api/v1/mj/record-info
    POST /api/v1/gpt4o-image/generate GET /api/v1/gpt4o-image/record-info
    POST /api/v1/flux/kontext/generate  GET /api/v1/flux/kontext/record-info
    (shapes and endpoint names: kie_families, kie_family_handlers, kie_validate_families)
    GET  /api/v1/chat/credit          GET|HEAD /media/<task_id>/<n>.<png|mp4|mp3> (no auth)
    POST /api/file-stream-upload | file-base64-upload | file-url-upload, GET /files/<filePath>:
    see kie_uploads (uploads expire after ``upload_ttl_s``; ``emu.uploads()`` lists them).
    Input URLs of a task must be public-looking or the emulator's own live files, else 422:
    see kie_inputs.
    A follow-up (Veo extend / 4K, Runway extend, Suno extend) must name a succeeded task of
    this emulator (Suno: a track ``<task id>-<n>``), else 422: see kie_family_handlers.
Errors answer HTTP status == body code (set ``errors_in_http_200`` to send them in HTTP 200):
400 bad JSON / missing taskId, 401, 402 (credit_cost > credits), 404 unknown taskId (or other
family's), 422 validation (missing model/prompt/input; Suno: callBackUrl, model, customMode,
instrumental, custom-mode style+title), 429 rate limited (with Retry-After; not queued).
Result kind: png for image models, mp4 for veo and video models (kling, sora, wan, hailuo,
grok text-to-video, ...), mp3 for suno and elevenlabs/speech. Task ids: 32 hex chars (Veo:
``veo_task_`` + hex), reproducible from ``seed``. States follow the clock: see kie_tasks.

Prompt markers (market ``input.prompt``/``input.text``, Veo/Suno ``prompt``):
``[fail]`` / ``[fail:422]`` task fails (failCode "500" / "422"); ``[stuck]`` never ends;
``[large:5]`` results padded to 5 MB (still valid files); ``[slow:3]`` duration 3 s.

Control (plain JSON, no auth): GET /_control/stats, GET|POST /_control/config,
GET|POST /_control/faults, POST /_control/reset, POST /_control/finish
{"taskId", "outcome": "success"|"fail", "code", "msg"}. Bad documents -> 400 {"error"}.

/_control/config fields (partial update; unknown names refused):
    duration_s 0.5 (global task duration; 0 = done at once), model_durations {model: s},
    rate_limits true, create_limit 20, create_window_s 10, status_limit 10,
    status_window_s 1 (create limit spans all three create endpoints, status likewise),
    credits 10000 (GET /chat/credit), credit_cost 0 (taken per create; 402 when short),
    results_per_task 1 (market/Veo URLs per task; Suno always 2 tracks),
    large_result_mb 0 (pad every new task's results), callback_timeout_s 15,
    callback_retries 0, callback_retry_delay_s 1, errors_in_http_200 false,
    message_key "msg" ("message" like some KIE pages), public_url null (base of result URLs),
    known_models null (list -> other market models get 422), upload_ttl_s 86400,
    upload_limit_mb 100.

/_control/faults document (replaces all faults; every part optional)::

    {"endpoints": {"<endpoint>": RULE or [RULE, ...]},
     "callbacks": {"<fault>": TRIGGER + params},
     "tasks": {"fail": TRIGGER + {"code": "500", "msg": "..."}, "stuck": TRIGGER}}

TRIGGER fields: ``next`` (the next N matching events), ``fraction`` (then each with this
probability, seeded rng), ``models`` (list; restrict to those model ids). With neither
``next`` nor ``fraction`` the fault fires EVERY time.
<endpoint>: market.create, veo.create, suno.create, market.status, veo.status, suno.status,
<family>.create for runway, runway_extend, runway_aleph, midjourney, gpt4o_image,
flux_kontext, veo_extend, veo_4k, suno_extend; runway.status, runway_aleph.status,
midjourney.status, gpt4o_image.status, flux_kontext.status, veo_1080p.status;
credit, or a group: create, status, "*" (looked up specific -> group -> "*"; first firing rule
wins). RULE = TRIGGER + ``kind``:
    "error" (default; before auth, no task created): ``http_status`` 500, ``body_code``
        (default = http_status; http_status 200 + body_code 500 = error inside an HTTP 200),
        ``msg``, ``retry_after`` (seconds -> Retry-After header), ``raw_body`` (sent verbatim
        instead of the envelope, e.g. an HTML 502 page);
    "delay": after the work (the task IS created) wait ``delay_s`` (30) then answer normally;
    "drop": after the work (the task IS created) close the connection without an answer.
Callback faults (``callbacks``), per callback delivery unless noted:
    drop, duplicate {times: 2 total copies}, delay {seconds: 1}, malformed {mode: "truncated" |
    "not_json" | "wrong_types"}, wrong_token (callback URL's last path segment, or every query
    value, gets its last char changed), wrong_hmac (signed with a wrong key; also added when
    no webhook key), stale_timestamp (signed, timestamp 1 h old);
    per task at create: early (task finishes at once and ALL its callbacks are delivered
    before the createTask answer is sent), out_of_order (Suno: complete, first, text all at
    the end; market/Veo: a contradicting fail callback right after the success one).

Stats document: ``calls`` {endpoint: n} (endpoints above + "media"), ``answers``
{endpoint: {body code: n}}, ``creates`` (tasks created), ``polls`` {task_id: n admitted status
queries}, ``rate_limited`` {"create"|"status": n}, ``faults_fired`` {name: n}, ``callbacks``
[ {task_id, family, model, kind (success|fail|text|first|complete|error), url (as sent),
body (text), json (parsed or null), status (HTTP answer or null), ok, error, faults, copy,
attempt, headers, sent_at} ] in send order, ``callbacks_dropped`` [same, status null],
``tasks`` [ {task_id, family, model, state (waiting|queuing|generating|success|fail), status
(Suno), outcome, polls, callback_url, created_at, duration_s, early, out_of_order} ],
``callbacks_sent``, ``callbacks_ok`` (counts), ``tasks_by_state`` {state: n}, ``credits``.
``details=False`` / ``?details=0`` omits the three lists (callbacks, callbacks_dropped, tasks).

Callbacks (only for tasks created with a callBackUrl): KIE's body shapes per family (see
kie_tasks), POSTed from a background sender on the emulator loop, never inside the create
handler (except the ``early`` fault). Market/Veo: one callback when the task ends. Suno:
``text`` at 0.4 x duration, ``first`` at 0.7 x, ``complete`` (or ``error``) at the end. A
task's callbacks go out one after another, in plan order. 15 s answer timeout
(``callback_timeout_s``); any 2xx counts as delivered. With a webhook key each carries
X-Webhook-Timestamp (Unix s) and X-Webhook-Signature =
base64(HMAC-SHA256(key, taskId + "." + timestamp)). ``wait_for_callbacks`` counts every
POST made (each duplicate copy and retry counts once), answered or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.netutil import bind_sockets

from sandbox.kie_callbacks import CallbackSender
from sandbox.kie_control import make_app
from sandbox.kie_core import EmulatorCore
from sandbox.kie_uploads import expire_uploads, uploads_view

__all__ = ["KieEmulator", "main"]
MAX_BODY = 300 * 1024 * 1024  # above upload_limit_mb's default: the emulator answers 400 itself


class KieEmulator:
    """The emulator: own IOLoop in a daemon thread, state in a thread-safe core."""

    def __init__(self, api_key: str, *, host: str = "127.0.0.1", port: int = 0,
                 webhook_key: str | None = None, seed: int = 0,
                 clock: Callable[[], float] = time.monotonic, tick_s: float = 0.01,
                 **config: Any) -> None:
        self._host, self._port, self._tick_s = host, port, tick_s
        self.core = EmulatorCore(api_key, webhook_key, seed, clock)
        if config:
            self.core.configure(config)
        self._thread: threading.Thread | None = None
        self._loop: IOLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._sender: CallbackSender | None = None

    # ----- lifecycle -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL (``http://host:port``), valid after ``start()``."""
        return self.core.base_url

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> KieEmulator:
        """Bind, start the loop thread, return once listening."""
        sockets = bind_sockets(self._port, self._host, family=socket.AF_INET)
        self._port = sockets[0].getsockname()[1]
        shown = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        self.core.base_url = f"http://{shown}:{self._port}"
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(sockets, ready)),
                                        name="kie-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("KIE emulator did not start")
        return self

    async def _main(self, sockets: list[socket.socket], ready: threading.Event) -> None:
        self._loop = IOLoop.current()
        self._stopping = asyncio.Event()
        self._sender = CallbackSender(self.core)
        server = HTTPServer(make_app(self.core, self._sender, self._tick),
                            max_body_size=MAX_BODY)
        server.add_sockets(sockets)
        ticker = PeriodicCallback(self._tick, self._tick_s * 1000)
        ticker.start()
        ready.set()
        await self._stopping.wait()
        ticker.stop()
        server.stop()
        # In-flight delayed answers would otherwise hold the loop open.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), 1.0)
        self._sender.close()

    def _tick(self) -> None:
        sender = self._sender
        if sender is None:
            return
        for task, kinds in self.core.due_callbacks():
            sender.dispatch(task, kinds)

    def _wake(self) -> None:
        if self._loop is not None:
            self._loop.add_callback(self._tick)

    def stop(self) -> None:
        """Stop serving and join the loop thread (idempotent)."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None:
            loop.add_callback(stopping.set)
        if thread is not None:
            thread.join(5)
        self._loop = self._thread = None

    def __enter__(self) -> KieEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- control (same data as /_control) --------------------------------------------
    def configure(self, settings: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
        """Partial config update (see module docstring); returns the effective config."""
        return self.core.configure({**(settings or {}), **changes})

    def set_faults(self, spec: dict[str, Any] | None) -> None:
        """Replace all faults with ``spec``; ValueError if malformed."""
        self.core.set_faults(spec)

    def clear_faults(self) -> None:
        self.core.set_faults(None)

    def reset(self) -> None:
        """Clear tasks, stats, faults and rate windows; reseed the random source."""
        self.core.reset()

    def stats(self, *, details: bool = True) -> dict[str, Any]:
        """The ``/_control/stats`` document; ``details=False`` omits the long lists."""
        return self.core.stats(details=details)

    def task(self, task_id: str) -> dict[str, Any] | None:
        with self.core.lock:
            task = self.core.tasks.get(task_id)
            return None if task is None else self.core.task_view(task, self.core.clock())

    def callbacks(self) -> list[dict[str, Any]]:
        return list(self.core.stats()["callbacks"])

    def wait_for_callbacks(self, count: int, timeout: float = 5.0,
                           task_id: str | None = None) -> list[dict[str, Any]]:
        """Wait until ``count`` callbacks were sent and answered (or failed); TimeoutError."""
        return self.core.wait_for_callbacks(count, timeout, task_id)

    def uploads(self) -> list[dict[str, Any]]:
        """Every file uploaded (``/_control/uploads``): fileName, filePath, downloadUrl,
        fileSize, mimeType, uploadedAt, endpoint, uploadPath, authorization, source_url,
        uploaded_mono, expired."""
        return uploads_view(self.core)

    def expire_uploads(self) -> None:
        """End every upload now: their URLs answer 404 and tasks refuse them."""
        expire_uploads(self.core)

    def finish_task(self, task_id: str, outcome: str = "success", *, code: str = "500",
                    msg: str = "internal error") -> None:
        """End a task now (typically a ``[stuck]`` one); its callbacks follow."""
        self.core.finish_task(task_id, outcome, code=code, msg=msg)
        self._wake()


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Emulated KIE AI API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--webhook-key", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=0.5, help="task duration, seconds")
    parser.add_argument("--no-rate-limits", action="store_true")
    args = parser.parse_args(argv)
    emulator = KieEmulator(args.api_key, host=args.host, port=args.port,
                           webhook_key=args.webhook_key, seed=args.seed,
                           duration_s=args.duration, rate_limits=not args.no_rate_limits)
    emulator.start()
    print(f"KIE emulator listening on {emulator.url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
