"""KieClient over real HTTP against a tiny scripted stub of KIE on 127.0.0.1 (port 0).

The stub lives here on purpose: it is not the sandbox emulator and shares no code with the
product. Each path gets a script of replies; the last reply repeats.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gateways.kie.client import SUNO_PLACEHOLDER_CALLBACK, KieClient
from trt_actors.errors import (
    KieAuthError,
    KieError,
    KieFinal,
    KieOutcomeUnknown,
    KieRetryable,
)
from trt_actors.messages import TaskReport, TaskState

API_KEY = "sk-SECRET-0123456789abcdef"
CALLBACK = "http://node.example/kie/callback/job-token-SECRET-42"
CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """A JSON-able value, or raw bytes."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Hold the answer this long (released early at teardown)."""
    drop: bool = False
    """Read the request, then close the connection without answering."""


def ok(data: Any) -> Reply:
    return Reply(200, {"code": 200, "msg": "success", "data": data})


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float


class Stub:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        # A client that gave up mid-answer is expected here, not an error worth a traceback.
        self.server.handle_error = lambda *args: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = list(replies)

    def calls_to(self, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path == path]

    def _next(self, path: str) -> Reply:
        with self.lock:
            script = self.scripts.get(path) or [Reply(404, {"code": 404, "msg": "no route"})]
            return script.pop(0) if len(script) > 1 else script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stub.lock:
                    stub.calls.append(Call(self.command, parts.path, parse_qs(parts.query),
                                           dict(self.headers), json.loads(raw) if raw else None,
                                           time.monotonic()))
                reply = stub._next(parts.path)
                if reply.delay:
                    stub.release.wait(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                payload = reply.body if isinstance(reply.body, bytes) \
                    else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (read timeout): nothing to answer

        return Handler


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    thread = threading.Thread(target=s.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield s
    s.release.set()
    s.server.shutdown()
    s.server.server_close()
    thread.join(5)


@pytest.fixture
def make_client(stub: Stub) -> Iterator[Callable[..., KieClient]]:
    clients: list[KieClient] = []

    def make(**overrides: Any) -> KieClient:
        options: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 2.0,
                                   "backoff_base": 0.01, "backoff_cap": 1.0, "max_tries": 3}
        options.update(overrides)
        client = KieClient(options.pop("base_url", stub.url), API_KEY, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., KieClient]) -> KieClient:
    return make_client()


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert API_KEY not in caplog.text
    assert "job-token-SECRET" not in caplog.text


def raises(kind: type[KieError], fn: Callable[[], object]) -> KieError:
    """Run fn, expect ``kind``; check no secret is in anything the exception shows."""
    with pytest.raises(kind) as info:
        fn()
    exc = info.value
    for text in (str(exc), repr(exc), repr(exc.args), str(exc.__cause__), str(exc.__context__)):
        assert API_KEY not in text
        assert "job-token-SECRET" not in text
    return exc


def create(client: KieClient, **kw: Any) -> str:
    return client.create_task("market", "z-image", {"prompt": "a cat"}, CALLBACK, **kw)


# --- createTask ------------------------------------------------------------------------------


def test_create_returns_the_task_id_and_sends_the_documented_body(
        stub: Stub, client: KieClient) -> None:
    stub.script(CREATE, ok({"taskId": "task-1"}))
    assert create(client) == "task-1"
    (call,) = stub.calls_to(CREATE)
    assert call.method == "POST"
    assert call.body == {"model": "z-image", "input": {"prompt": "a cat"}, "callBackUrl": CALLBACK}
    assert call.headers["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in repr(client)


def test_veo_and_suno_bodies_are_flat_and_system_fields_win(
        stub: Stub, client: KieClient) -> None:
    stub.script("/api/v1/veo/generate", ok({"taskId": "veo-1"}))
    stub.script("/api/v1/generate", ok({"taskId": 777}))
    veo_input = {"prompt": "waves", "aspectRatio": "16:9", "model": "evil", "callBackUrl": "x"}
    assert client.create_task("veo", "veo3_fast", veo_input, CALLBACK) == "veo-1"
    assert stub.calls_to("/api/v1/veo/generate")[0].body == {
        "prompt": "waves", "aspectRatio": "16:9", "model": "veo3_fast", "callBackUrl": CALLBACK}
    # Suno requires a callback URL: without one the documented placeholder is sent.
    assert client.create_task("suno", "V5", {"prompt": "song", "customMode": False,
                                             "instrumental": True}, None) == "777"
    assert stub.calls_to("/api/v1/generate")[0].body == {
        "prompt": "song", "customMode": False, "instrumental": True, "model": "V5",
        "callBackUrl": SUNO_PLACEHOLDER_CALLBACK}


def test_429_is_retried_after_retry_after(stub: Stub, client: KieClient,
                                          caplog: pytest.LogCaptureFixture) -> None:
    stub.script(CREATE, Reply(429, {"code": 429, "msg": "rate limited"}, {"Retry-After": "0.3"}),
                ok({"taskId": "task-2"}))
    assert create(client) == "task-2"
    first, second = stub.calls_to(CREATE)
    assert second.at - first.at >= 0.28
    retries = [r for r in caplog.records if r.name == "trt.kie"]
    assert len(retries) == 1 and "z-image" in retries[0].getMessage()


def test_429_inside_http_200_is_retried(stub: Stub, client: KieClient) -> None:
    stub.script(CREATE, Reply(200, {"code": 429, "msg": "slow down", "data": None}),
                Reply(200, {"code": 455, "message": "maintenance"}), ok({"taskId": "t3"}))
    assert create(client) == "t3"
    assert len(stub.calls_to(CREATE)) == 3


def test_500_every_time_gives_retryable_after_max_tries(
        stub: Stub, client: KieClient, caplog: pytest.LogCaptureFixture) -> None:
    stub.script(CREATE, Reply(500, {"code": 500, "msg": "server error"}))
    exc = raises(KieRetryable, lambda: create(client))
    assert exc.code == 500
    assert len(stub.calls_to(CREATE)) == 3
    assert len([r for r in caplog.records if r.name == "trt.kie"]) == 2  # one line per retry


def test_long_retry_after_is_handed_to_the_caller(stub: Stub, client: KieClient) -> None:
    stub.script(CREATE, Reply(503, b"<html>busy</html>", {"Retry-After": "120"}))
    exc = raises(KieRetryable, lambda: create(client))
    assert isinstance(exc, KieRetryable)
    assert exc.retry_after == 120 and exc.code == 503
    assert len(stub.calls_to(CREATE)) == 1  # no thread sleeps 2 minutes


def test_402_inside_http_200_is_an_auth_error(stub: Stub, client: KieClient) -> None:
    stub.script(CREATE, Reply(200, {"code": 402, "msg": "Credits insufficient", "data": None}))
    exc = raises(KieAuthError, lambda: create(client))
    assert exc.code == 402
    assert len(stub.calls_to(CREATE)) == 1


def test_401_message_echoing_the_key_is_sanitised(stub: Stub, client: KieClient) -> None:
    stub.script(CREATE, Reply(401, {"code": 401, "msg": f"invalid key Bearer {API_KEY}"}))
    exc = raises(KieAuthError, lambda: create(client))
    assert exc.code == 401 and "invalid key" in str(exc)


@pytest.mark.parametrize("reply", [
    Reply(422, {"code": 422, "msg": f"callBackUrl {CALLBACK} is invalid"}),
    Reply(200, {"code": 422, "msg": "prompt is required"}),
    Reply(200, {"code": 501, "msg": "generation failed"}),
    Reply(400, b"bad request"),
], ids=["http422", "body422", "body501", "http400_text"])
def test_final_codes_are_not_retried(stub: Stub, client: KieClient, reply: Reply) -> None:
    stub.script(CREATE, reply)
    exc = raises(KieFinal, lambda: create(client))
    assert not isinstance(exc, KieAuthError)
    assert exc.code == (reply.body["code"] if isinstance(reply.body, dict) else reply.status)
    assert len(stub.calls_to(CREATE)) == 1


def test_read_timeout_is_outcome_unknown_and_never_resent(
        stub: Stub, make_client: Callable[..., KieClient]) -> None:
    client = make_client(read_timeout=0.3)
    stub.script(CREATE, Reply(delay=5.0, body={"code": 200, "data": {"taskId": "late"}}))
    started = time.monotonic()
    raises(KieOutcomeUnknown, lambda: create(client))
    assert time.monotonic() - started < 2.0
    assert len(stub.calls_to(CREATE)) == 1


def test_connection_dropped_after_sending_is_outcome_unknown(
        stub: Stub, client: KieClient) -> None:
    stub.script(CREATE, Reply(drop=True))
    raises(KieOutcomeUnknown, lambda: create(client))
    assert len(stub.calls_to(CREATE)) == 1


@pytest.mark.parametrize("body", [b"<html>ok</html>", {"code": 200, "data": {}}, b""],
                         ids=["html", "no_task_id", "empty"])
def test_success_status_without_a_task_id_is_outcome_unknown(
        stub: Stub, client: KieClient, body: Any) -> None:
    stub.script(CREATE, Reply(200, body))
    raises(KieOutcomeUnknown, lambda: create(client))
    assert len(stub.calls_to(CREATE)) == 1


def test_connection_refused_is_retried_then_retryable(
        make_client: Callable[..., KieClient]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}")
    exc = raises(KieRetryable, lambda: create(client))
    assert exc.code is None


def test_local_rate_limit_refuses_without_calling_kie(
        stub: Stub, make_client: Callable[..., KieClient]) -> None:
    client = make_client(create_limit=(1, 60.0))
    stub.script(CREATE, ok({"taskId": "only"}))
    assert create(client) == "only"
    exc = raises(KieRetryable, lambda: create(client, rate_wait=0.0))
    assert isinstance(exc, KieRetryable) and exc.retry_after is not None
    assert 59.0 < exc.retry_after <= 60.0
    assert len(stub.calls_to(CREATE)) == 1
    assert client.rate_headroom()["create"] == {"available": 0, "limit": 1, "per": 60.0}


# --- status queries --------------------------------------------------------------------------

URLS = ["https://cdn.example/a.png", "https://cdn.example/b.png"]


@pytest.mark.parametrize("family, data, expected", [
    ("market", {"taskId": "t", "state": "waiting", "resultJson": ""},
     TaskReport("t", TaskState.PENDING)),
    ("market", {"taskId": "t", "state": "queuing", "resultJson": None},
     TaskReport("t", TaskState.PENDING)),
    ("market", {"taskId": "t", "state": "generating"}, TaskReport("t", TaskState.RUNNING)),
    ("market", {"taskId": "t", "state": "success",
                "resultJson": json.dumps({"resultUrls": URLS})},
     TaskReport("t", TaskState.SUCCESS, tuple(URLS))),
    ("market", {"taskId": "t", "state": "success", "resultJson": {"resultUrls": URLS[:1]}},
     TaskReport("t", TaskState.SUCCESS, tuple(URLS[:1]))),
    ("market", {"taskId": "t", "state": "fail", "failCode": "500", "failMsg": "NSFW",
                "resultJson": None},
     TaskReport("t", TaskState.FAILED, (), "500", "NSFW")),
    ("veo", {"taskId": "t", "successFlag": 0, "response": None},
     TaskReport("t", TaskState.RUNNING)),
    ("veo", {"taskId": "t", "successFlag": 1,
             "response": {"taskId": "t", "resultUrls": URLS[:1], "resolution": "720p"}},
     TaskReport("t", TaskState.SUCCESS, tuple(URLS[:1]))),
    ("veo", {"taskId": "t", "successFlag": 2, "errorCode": 400, "errorMessage": "flagged"},
     TaskReport("t", TaskState.FAILED, (), "400", "flagged")),
    ("suno", {"taskId": "t", "status": "PENDING"}, TaskReport("t", TaskState.PENDING)),
    ("suno", {"taskId": "t", "status": "TEXT_SUCCESS"}, TaskReport("t", TaskState.RUNNING)),
    ("suno", {"taskId": "t", "status": "FIRST_SUCCESS",
              "response": {"sunoData": [{"audioUrl": URLS[0]}]}},
     TaskReport("t", TaskState.RUNNING)),
    ("suno", {"taskId": "t", "status": "SUCCESS", "response": {"sunoData": [
        {"id": "1", "audioUrl": URLS[0], "streamAudioUrl": "https://cdn.example/s1"},
        {"id": "2", "audioUrl": "", "streamAudioUrl": "https://cdn.example/s2"}]}},
     TaskReport("t", TaskState.SUCCESS, (URLS[0], "https://cdn.example/s2"),
                result_ids=("1", "2"))),  # each track's id, for its extend
    ("suno", {"taskId": "t", "status": "SENSITIVE_WORD_ERROR", "errorMessage": "bad words"},
     TaskReport("t", TaskState.FAILED, (), "SENSITIVE_WORD_ERROR", "bad words")),
    ("suno", {"taskId": "t", "status": "GENERATE_AUDIO_FAILED", "errorCode": 500},
     TaskReport("t", TaskState.FAILED, (), "500", None)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_get_task_normalises_each_family(
        stub: Stub, client: KieClient, family: str, data: dict[str, Any],
        expected: TaskReport) -> None:
    path = {"market": RECORD, "veo": "/api/v1/veo/record-info",
            "suno": "/api/v1/generate/record-info"}[family]
    stub.script(path, ok(data))
    assert client.get_task(family, "t") == expected
    (call,) = stub.calls_to(path)
    assert call.method == "GET" and call.query == {"taskId": ["t"]}


def test_status_read_timeout_is_retried(
        stub: Stub, make_client: Callable[..., KieClient]) -> None:
    client = make_client(read_timeout=0.3)
    stub.script(RECORD, Reply(delay=5.0, body={}), ok({"state": "generating"}))
    assert client.get_task("market", "t").state is TaskState.RUNNING
    assert len(stub.calls_to(RECORD)) == 2


def test_status_5xx_every_time_gives_retryable(stub: Stub, client: KieClient) -> None:
    stub.script(RECORD, Reply(502, b"bad gateway"))
    assert raises(KieRetryable, lambda: client.get_task("market", "t")).code == 502
    assert len(stub.calls_to(RECORD)) == 3


@pytest.mark.parametrize("code", [404, 422])
def test_status_of_unknown_task_is_final(stub: Stub, client: KieClient, code: int) -> None:
    stub.script(RECORD, Reply(200, {"code": code, "msg": "recordInfo is null"}))
    assert raises(KieFinal, lambda: client.get_task("market", "nope")).code == code
    assert len(stub.calls_to(RECORD)) == 1


def test_credits(stub: Stub, client: KieClient) -> None:
    stub.script("/api/v1/chat/credit", ok(1234))
    assert client.credits() == 1234
    assert client.rate_headroom()["status"]["available"] == 9
