"""The KIE emulator speaks the contract of kie-api.md and injects the faults tests rely on.

Plain ``requests`` against a started emulator on an ephemeral port; callbacks go to a tiny
http.server receiver. No sleeps: waits are on conditions with deadlines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.kie_emulator import KieEmulator

KEY = "test-key-0123"
WEBHOOK_KEY = "webhook-secret"
AUTH = {"Authorization": f"Bearer {KEY}"}


class Receiver:
    """A callback endpoint on port 0 that records every POST."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.on_arrival: Callable[[], None] = lambda: None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.on_arrival()
                with receiver.cond:
                    receiver.calls.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body})
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.calls) >= count, timeout), self.calls
            return list(self.calls)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def emu() -> Iterator[KieEmulator]:
    with KieEmulator(KEY, webhook_key=WEBHOOK_KEY, seed=7, duration_s=0.05,
                     rate_limits=False) as e:
        yield e


def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
    raise AssertionError("condition not met before the deadline")


def create_market(emu: KieEmulator, prompt: str = "a cat", model: str = "z-image",
                  callback: str | None = None, **kw: Any) -> requests.Response:
    body: dict[str, Any] = {"model": model, "input": {"prompt": prompt, "aspect_ratio": "1:1"}}
    if callback:
        body["callBackUrl"] = callback
    return requests.post(f"{emu.url}/api/v1/jobs/createTask", json=body, headers=AUTH, **kw)


def record(emu: KieEmulator, task_id: str) -> dict[str, Any]:
    r = requests.get(f"{emu.url}/api/v1/jobs/recordInfo", params={"taskId": task_id},
                     headers=AUTH, timeout=5)
    data: dict[str, Any] = r.json()["data"]
    return data


def assert_valid_png(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + payload) & 0xFFFFFFFF == crc, kind
        chunks.append(kind)
        idat += payload if kind == b"IDAT" else b""
        pos += 12 + length
    width, height = struct.unpack(">II", data[16:24])
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)


def test_market_task_goes_through_states_to_a_downloadable_png(emu: KieEmulator) -> None:
    emu.configure(duration_s=0.3)
    answer = create_market(emu, timeout=5)
    assert answer.status_code == 200 and answer.json()["code"] == 200
    task_id = answer.json()["data"]["taskId"]
    seen: list[str] = []

    def finished() -> dict[str, Any] | None:
        data = record(emu, task_id)
        seen.append(data["state"])
        return data if data["state"] in ("success", "fail") else None

    data = until(finished)
    assert data["state"] == "success" and seen[0] in ("waiting", "queuing")
    assert json.loads(data["param"])["input"]["prompt"] == "a cat"
    assert data["createTime"] <= data["completeTime"] and data["failCode"] == ""
    url = json.loads(data["resultJson"])["resultUrls"][0]
    media = requests.get(url, timeout=5)
    assert media.headers["Content-Type"] == "image/png"
    assert_valid_png(media.content)
    assert emu.stats()["polls"][task_id] == len(seen)


def test_suno_calls_back_text_then_first_then_complete(emu: KieEmulator,
                                                       receiver: Receiver) -> None:
    body = {"model": "V4_5PLUS", "prompt": "a song", "customMode": False,
            "instrumental": False, "callBackUrl": f"{receiver.url}/kie/tok"}
    answer = requests.post(f"{emu.url}/api/v1/generate", json=body, headers=AUTH, timeout=5)
    task_id = answer.json()["data"]["taskId"]
    calls = receiver.wait(3)
    bodies = [json.loads(c["body"]) for c in calls]
    assert [b["data"]["callbackType"] for b in bodies] == ["text", "first", "complete"]
    assert all(b["data"]["task_id"] == task_id for b in bodies)
    tracks = bodies[-1]["data"]["data"]
    assert len(tracks) == 2 and all(t["audio_url"].endswith(".mp3") for t in tracks)
    audio = requests.get(tracks[0]["audio_url"], timeout=5)
    assert audio.headers["Content-Type"] == "audio/mpeg"
    assert audio.content[:3] == b"ID3" or audio.content[:2] in (b"\xff\xfb", b"\xff\xf3")
    status = requests.get(f"{emu.url}/api/v1/generate/record-info", params={"taskId": task_id},
                          headers=AUTH, timeout=5).json()["data"]
    assert status["status"] == "SUCCESS" and len(status["response"]["sunoData"]) == 2


def test_callback_carries_a_verifiable_hmac_signature(emu: KieEmulator,
                                                      receiver: Receiver) -> None:
    emu.set_faults({"callbacks": {"wrong_hmac": {"next": 1}}})
    first = create_market(emu, callback=f"{receiver.url}/cb/a", timeout=5).json()["data"]
    receiver.wait(1)
    second = create_market(emu, callback=f"{receiver.url}/cb/b", timeout=5).json()["data"]
    calls = receiver.wait(2)

    def verifies(call: dict[str, Any], task_id: str) -> bool:
        stamp = call["headers"]["X-Webhook-Timestamp"]
        expected = base64.b64encode(hmac.new(WEBHOOK_KEY.encode(), f"{task_id}.{stamp}".encode(),
                                             hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, call["headers"]["X-Webhook-Signature"])

    assert not verifies(calls[0], first["taskId"])
    assert verifies(calls[1], second["taskId"])
    assert json.loads(calls[1]["body"])["data"]["taskId"] == second["taskId"]


def test_21st_create_within_10_seconds_is_rate_limited(emu: KieEmulator) -> None:
    emu.configure(rate_limits=True, duration_s=60)
    codes = [create_market(emu, prompt=f"p{i}", timeout=5).status_code for i in range(20)]
    refused = create_market(emu, prompt="one too many", timeout=5)
    assert codes == [200] * 20
    assert refused.status_code == 429 and refused.json()["code"] == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert emu.stats()["creates"] == 20 and emu.stats()["rate_limited"] == {"create": 1}


def test_read_timeout_after_create_still_creates_and_runs_the_task(emu: KieEmulator,
                                                                   receiver: Receiver) -> None:
    emu.set_faults({"endpoints": {"create": [{"kind": "delay", "delay_s": 1.0, "next": 1},
                                             {"kind": "drop", "next": 1}]}})
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_market(emu, callback=f"{receiver.url}/cb/t1", timeout=0.3)
    with pytest.raises(requests.exceptions.ConnectionError):
        create_market(emu, callback=f"{receiver.url}/cb/t2", timeout=5)
    calls = receiver.wait(2)
    assert sorted(c["path"] for c in calls) == ["/cb/t1", "/cb/t2"]
    assert emu.stats()["creates"] == 2
    assert all(t["state"] == "success" for t in emu.stats()["tasks"])


def test_wrong_or_missing_key_is_refused_with_401(emu: KieEmulator) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}):
        r = requests.get(f"{emu.url}/api/v1/chat/credit", headers=headers, timeout=5)
        assert r.status_code == 401 and r.json()["code"] == 401
        assert KEY not in r.text
    ok = requests.get(f"{emu.url}/api/v1/chat/credit", headers=AUTH, timeout=5).json()
    assert ok == {"code": 200, "msg": "success", "data": 10000}


def test_invalid_requests_are_refused_with_422(emu: KieEmulator) -> None:
    no_model = requests.post(f"{emu.url}/api/v1/jobs/createTask", json={"input": {"prompt": "x"}},
                             headers=AUTH, timeout=5)
    suno = requests.post(f"{emu.url}/api/v1/generate", headers=AUTH, timeout=5,
                         json={"model": "V5", "prompt": "x", "customMode": False,
                               "instrumental": False})
    assert no_model.json()["code"] == 422 and suno.json()["code"] == 422
    assert "callBackUrl" in suno.json()["msg"]
    assert emu.stats()["creates"] == 0


def test_injected_endpoint_errors_then_recovery(emu: KieEmulator) -> None:
    emu.set_faults({"endpoints": {"market.create": [
        {"http_status": 455, "next": 1},
        {"http_status": 429, "retry_after": 3, "next": 1},
        {"http_status": 200, "body_code": 500, "next": 1}]}})
    answers = [create_market(emu, timeout=5) for _ in range(4)]
    assert [a.status_code for a in answers] == [455, 429, 200, 200]
    assert [a.json()["code"] for a in answers] == [455, 429, 500, 200]
    assert answers[1].headers["Retry-After"] == "3"
    assert emu.stats()["creates"] == 1


def test_early_callback_arrives_before_the_create_answer(emu: KieEmulator,
                                                         receiver: Receiver) -> None:
    answered = threading.Event()
    arrived_early: list[bool] = []
    receiver.on_arrival = lambda: arrived_early.append(not answered.is_set())
    emu.set_faults({"callbacks": {"early": {"next": 1}}})
    task_id = create_market(emu, callback=f"{receiver.url}/cb/e", timeout=5).json()["data"]
    answered.set()
    receiver.wait(1)
    assert arrived_early == [True]
    assert record(emu, task_id["taskId"])["state"] == "success"


def test_out_of_order_and_malformed_callbacks(emu: KieEmulator, receiver: Receiver) -> None:
    emu.set_faults({"callbacks": {"out_of_order": {"next": 1},
                                  "malformed": {"fraction": 1, "models": ["V5"],
                                                "mode": "not_json"}}})
    body = {"model": "V4_5PLUS", "prompt": "x", "customMode": False, "instrumental": False,
            "callBackUrl": f"{receiver.url}/s"}
    requests.post(f"{emu.url}/api/v1/generate", json=body, headers=AUTH, timeout=5)
    kinds = [json.loads(c["body"])["data"]["callbackType"] for c in receiver.wait(3)]
    assert kinds == ["complete", "first", "text"]
    requests.post(f"{emu.url}/api/v1/generate", json={**body, "model": "V5"}, headers=AUTH,
                  timeout=5)
    late = receiver.wait(6)[3:]
    assert all(not c["body"].startswith(b"{") for c in late)


def test_failing_task_by_prompt_marker_and_wrong_token(emu: KieEmulator,
                                                       receiver: Receiver) -> None:
    emu.set_faults({"callbacks": {"wrong_token": {}}})
    task_id = create_market(emu, prompt="x [fail]", callback=f"{receiver.url}/cb/tokenA",
                            timeout=5).json()["data"]["taskId"]
    call = receiver.wait(1)[0]
    assert call["path"] == "/cb/tokena"  # same length, different token
    body = json.loads(call["body"])
    assert body["code"] == 501 and body["data"]["state"] == "fail"
    assert body["data"]["failCode"] == "500" and body["data"]["resultJson"] is None
    assert until(lambda: record(emu, task_id)["state"] == "fail")


def test_video_and_large_results_are_valid_files(emu: KieEmulator) -> None:
    video = create_market(emu, model="kling-2.6/text-to-video", timeout=5).json()["data"]
    large = create_market(emu, prompt="big [large:1.5]", timeout=5).json()["data"]

    def result_url(task_id: str) -> str:
        result = until(lambda: record(emu, task_id)["resultJson"])
        url: str = json.loads(result)["resultUrls"][0]
        return url

    urls = [result_url(video["taskId"]), result_url(large["taskId"])]
    mp4 = requests.get(urls[0], timeout=5)
    assert urls[0].endswith(".mp4") and mp4.content[4:8] == b"ftyp"
    head = requests.head(urls[1], timeout=5)
    assert int(head.headers["Content-Length"]) >= 1.5 * 1024 * 1024
    assert_valid_png(requests.get(urls[1], timeout=5).content)


def test_control_endpoints_speak_json(emu: KieEmulator) -> None:
    bad = requests.post(f"{emu.url}/_control/faults", json={"callbacks": {"dorp": {}}}, timeout=5)
    assert bad.status_code == 400 and "dorp" in bad.json()["error"]
    cfg = requests.post(f"{emu.url}/_control/config", json={"duration_s": 0}, timeout=5).json()
    assert cfg["duration_s"] == 0 and cfg["create_limit"] == 20
    create_market(emu, timeout=5)
    stats = requests.get(f"{emu.url}/_control/stats", timeout=5).json()
    assert stats["calls"]["market.create"] == 1 and stats["tasks"][0]["state"] == "success"
    requests.post(f"{emu.url}/_control/reset", timeout=5)
    assert emu.stats()["tasks"] == [] and emu.stats()["calls"] == {}


def test_status_queries_are_limited_per_window(emu: KieEmulator) -> None:
    emu.configure(rate_limits=True, status_limit=10, status_window_s=30)
    task_id = create_market(emu, timeout=5).json()["data"]["taskId"]
    codes = [requests.get(f"{emu.url}/api/v1/jobs/recordInfo", params={"taskId": task_id},
                          headers=AUTH, timeout=5).json()["code"] for _ in range(11)]
    assert codes == [200] * 10 + [429]
    assert emu.stats()["polls"][task_id] == 10


def test_dropped_and_duplicated_callbacks(emu: KieEmulator, receiver: Receiver) -> None:
    emu.set_faults({"callbacks": {"drop": {"models": ["z-image"]},
                                  "duplicate": {"times": 3, "models": ["google/nano-banana"]}}})
    dropped = create_market(emu, callback=f"{receiver.url}/cb/d", timeout=5).json()["data"]
    tripled = create_market(emu, model="google/nano-banana", callback=f"{receiver.url}/cb/n",
                            timeout=5).json()["data"]
    sent = emu.wait_for_callbacks(3, timeout=5)
    assert [c["task_id"] for c in sent] == [tripled["taskId"]] * 3 and all(c["ok"] for c in sent)
    assert [c["path"] for c in receiver.wait(3)] == ["/cb/n"] * 3
    assert until(lambda: emu.stats()["callbacks_dropped"])[0]["task_id"] == dropped["taskId"]


def test_emulator_imports_nothing_from_the_product() -> None:
    code = ("import sys, sandbox.kie_emulator; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('trt_actors', 'gateways', 'supervision')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_inputs_refused_as_kie_documents_them(emu: KieEmulator) -> None:
    # docs.kie.ai: Veo 3.1 (aspect_ratio, 1-2 imageUrls), Suno generate-music limits,
    # Hailuo 2.3 (no 10 s at 1080P), Qwen (negative_prompt <= 500)
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = requests.post(f"{emu.url}{path}", json=body, headers=AUTH, timeout=5)
        return dict(answer.json())

    img = "https://example.com/a.png"
    callback = "https://example.com/cb"
    veo = {"prompt": "a dog", "model": "veo3_fast", "aspect_ratio": "9:16"}
    assert post("/api/v1/veo/generate", {**veo, "imageUrls": [img, img]})["code"] == 200
    assert post("/api/v1/veo/generate", {**veo, "imageUrls": [img] * 3})["code"] == 422
    assert post("/api/v1/veo/generate", {**veo, "aspect_ratio": "1:1"})["code"] == 422
    suno = {"model": "V5", "customMode": True, "instrumental": False, "prompt": "la",
            "style": "folk", "title": "Sea", "callBackUrl": callback}
    assert post("/api/v1/generate", {**suno, "prompt": "l" * 5000})["code"] == 200
    for bad in ({"title": "t" * 81}, {"prompt": "l" * 5001}, {"style": None},
                {"customMode": False, "prompt": "p" * 501}):
        assert post("/api/v1/generate", {**suno, **bad})["code"] == 422, bad
    ten_seconds = {"prompt": "falls", "image_url": img, "duration": "10"}
    for resolution, code in (("768P", 200), ("1080P", 422)):
        hailuo = {"model": "hailuo/2-3-image-to-video-standard",
                  "input": {**ten_seconds, "resolution": resolution}}
        assert post("/api/v1/jobs/createTask", hailuo)["code"] == code
    qwen = {"model": "qwen/text-to-image", "input": {"prompt": "x", "negative_prompt": "n" * 501}}
    assert post("/api/v1/jobs/createTask", qwen)["code"] == 422
