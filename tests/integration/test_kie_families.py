"""Every KIE family beyond market/Veo/Suno through the real ``KieClient`` against the KIE
emulator over real HTTP, with KIE's callbacks POSTed to a real HTTP receiver and read by the
product's own ``parse_callback``.

For each family: create → callback → a delivered result; create → poll → the same result;
a failing task → a failure with KIE's reason; and what is not final stays not final (Suno
extend's ``text``/``first`` callbacks, a running task's status).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from gateways.kie.callbacks import ParsedCallback, parse_callback
from gateways.kie.client import KieClient
from sandbox.kie_emulator import KieEmulator
from tests.support.waiting import wait_until
from trt_actors.errors import KieFinal
from trt_actors.messages import TaskReport, TaskState

API_KEY = "kie-family-key-0123456789"

# family → (model id, input, result file kind, results per task)
CASES: dict[str, tuple[str, dict[str, Any], str, int]] = {
    "runway": ("runway-gen3", {"prompt": "a cat dancing", "duration": 5, "quality": "720p",
                               "aspectRatio": "16:9", "waterMark": ""}, "mp4", 1),
    "runway_extend": ("runway-extend", {"taskId": "ee603959-source", "prompt": "keep dancing",
                                        "quality": "720p"}, "mp4", 1),
    "runway_aleph": ("runway-aleph", {"prompt": "watercolor style",
                                      "videoUrl": "https://example.com/in.mp4"}, "mp4", 1),
    "midjourney": ("mj_txt2img", {"prompt": "a fox in snow", "speed": "fast",
                                  "aspectRatio": "1:1", "version": "7"}, "png", 4),
    "gpt4o_image": ("gpt4o-image", {"prompt": "a fox in snow", "size": "1:1", "nVariants": 1},
                    "png", 1),
    "flux_kontext": ("flux-kontext-pro", {"prompt": "a fox in snow", "aspectRatio": "16:9"},
                     "png", 1),
    "veo_extend": ("veo3_fast", {"taskId": "veo_task_source", "prompt": "the fox runs on"},
                   "mp4", 1),
    "veo_4k": ("veo3", {"taskId": "veo_task_source", "index": 0}, "mp4", 1),
    "suno_extend": ("V4_5PLUS", {"audioId": "e231-audio", "defaultParamFlag": True,
                                 "prompt": "a gentle bridge", "style": "Classical",
                                 "title": "Peaceful Piano Extended", "continueAt": 60},
                    "mp3", 2),
}
PROMPTED = {f for f, (_, inp, _, _) in CASES.items() if "prompt" in inp}
# follow-up family → the family, model and input of a task it continues (KIE continues only
# its own finished tasks: the placeholder ids in CASES are replaced by a real source's)
SOURCES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "veo_extend": ("veo", "veo3_fast", {"prompt": "a fox", "aspect_ratio": "16:9"}),
    "veo_4k": ("veo", "veo3", {"prompt": "a fox", "aspect_ratio": "16:9"}),
    "runway_extend": ("runway", "runway-gen3", CASES["runway"][1]),
    "suno_extend": ("suno", "V4_5PLUS", {"prompt": "a calm song", "customMode": False,
                                         "instrumental": False}),
}


class Receiver:
    """A real HTTP endpoint that records every callback body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.bodies.append(body)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kie/callback/tok-1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def parsed(self, task_id: str, family: str) -> list[ParsedCallback]:
        with self.lock:
            bodies = list(self.bodies)
        return [p for p in (parse_callback(b, family) for b in bodies) if p.task_id == task_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def emu() -> Iterator[KieEmulator]:
    with KieEmulator(API_KEY, seed=13, duration_s=0.3, rate_limits=False) as e:
        yield e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def client(emu: KieEmulator) -> Iterator[KieClient]:
    c = KieClient(emu.url, API_KEY, max_tries=1)
    yield c
    c.close()


def _source(client: KieClient, family: str) -> tuple[str, str]:
    """(the key naming the source, a finished source task of ``family``'s; Suno: a track)."""
    source_family, model, inp = SOURCES[family]
    task_id = client.create_task(source_family, model, inp, None)
    wait_until(lambda: _ended(client, source_family, task_id), 10.0, "the source task")
    return ("audioId", f"{task_id}-0") if family == "suno_extend" else ("taskId", task_id)


def _input(family: str, marker: str = "", client: KieClient | None = None) -> dict[str, Any]:
    inp = dict(CASES[family][1])
    if family in SOURCES:
        assert client is not None, "a follow-up needs its source task"
        key, source = _source(client, family)
        inp[key] = source
    if marker:
        inp["prompt"] = f"{inp['prompt']} {marker}"
    return inp


def _ended(client: KieClient, family: str, task_id: str) -> TaskReport | None:
    report = client.get_task(family, task_id)
    return report if report.state.final else None


def _final(receiver: Receiver, task_id: str, family: str) -> TaskReport:
    def final() -> TaskReport | None:
        return next((p.report for p in receiver.parsed(task_id, family)
                     if p.report is not None and p.report.state.final), None)
    return wait_until(final, 10.0, f"a final {family} callback")


def _assert_files(urls: tuple[str, ...], ext: str, count: int) -> None:
    assert len(urls) == count
    for url in urls:
        assert url.endswith(f".{ext}")
        answer = requests.get(url, timeout=5)
        assert answer.status_code == 200 and answer.content  # the user gets a real file


@pytest.mark.parametrize("family", sorted(CASES))
def test_create_then_callback_delivers_the_result(family: str, client: KieClient,
                                                  receiver: Receiver) -> None:
    model, _, ext, count = CASES[family]
    task_id = client.create_task(family, model, _input(family, client=client),
                                 receiver.url)
    report = _final(receiver, task_id, family)
    assert report.state is TaskState.SUCCESS
    _assert_files(report.result_urls, ext, count)


@pytest.mark.parametrize("family", sorted(CASES))
def test_create_then_poll_delivers_the_same_result(family: str, client: KieClient,
                                                   receiver: Receiver) -> None:
    model, _, ext, count = CASES[family]
    task_id = client.create_task(family, model, _input(family, client=client),
                                 receiver.url)
    running = client.get_task(family, task_id)
    assert not running.state.final and running.result_urls == ()  # nothing delivered early
    polled = wait_until(lambda: _ended(client, family, task_id), 10.0, f"{family} task to end")
    assert polled.state is TaskState.SUCCESS
    _assert_files(polled.result_urls, ext, count)
    assert _final(receiver, task_id, family).result_urls == polled.result_urls


@pytest.mark.parametrize("family", sorted(PROMPTED))
def test_failure_comes_with_a_reason(family: str, client: KieClient,
                                     receiver: Receiver) -> None:
    model = CASES[family][0]
    task_id = client.create_task(family, model, _input(family, "[fail:400]", client),
                                 receiver.url)
    by_callback = _final(receiver, task_id, family)
    by_poll = client.get_task(family, task_id)
    for report in (by_callback, by_poll):
        assert report.state is TaskState.FAILED
        assert report.result_urls == ()
        assert report.fail_code or report.fail_message  # what the user and operator are told


def test_suno_extend_intermediate_callbacks_are_not_final(client: KieClient,
                                                          receiver: Receiver) -> None:
    task_id = client.create_task("suno_extend", "V4_5PLUS",
                                 _input("suno_extend", client=client), receiver.url)
    _final(receiver, task_id, "suno_extend")
    parsed = receiver.parsed(task_id, "suno_extend")
    assert [p.callback_type for p in parsed] == ["text", "first", "complete"]
    for early in parsed[:2]:
        assert early.report is not None and not early.report.state.final
        assert early.report.result_urls == ()


def test_runway_without_a_public_callback_url_is_polled(client: KieClient,
                                                        emu: KieEmulator) -> None:
    task_id = client.create_task("runway", "runway-gen3", _input("runway"), None)
    sent = emu.task(task_id)
    assert sent is not None and sent["callback_url"] == "https://example.invalid/kie-callback"
    report = wait_until(lambda: _ended(client, "runway", task_id), 10.0, "runway task to end")
    assert report.state is TaskState.SUCCESS


def test_veo_1080p_is_polled_until_ready(client: KieClient, emu: KieEmulator) -> None:
    source = client.create_task("veo", "veo3_fast", {"prompt": "a fox", "aspect_ratio": "16:9"},
                                None)
    task_id = client.create_task("veo_1080p", "veo3_fast", {"taskId": source, "index": 0}, None)
    assert task_id == f"{source}#0"
    with pytest.raises(KieFinal):  # KIE: "1080P is processing" -- a poll error, not a result
        client.get_task("veo_1080p", task_id)

    def ready() -> TaskReport | None:
        try:
            return client.get_task("veo_1080p", task_id)
        except KieFinal:
            return None

    report = wait_until(ready, 10.0, "the 1080p video")
    assert report.state is TaskState.SUCCESS and report.task_id == task_id
    _assert_files(report.result_urls, "mp4", 1)


@pytest.mark.parametrize("family, model, bad, message", [
    ("runway", "runway-gen3", {"prompt": "p", "duration": 10, "quality": "1080p"}, "1080p"),
    ("midjourney", "mj_video", {"prompt": "p"}, "fileUrls"),
    ("gpt4o_image", "gpt4o-image", {"prompt": "p", "size": "4:5"}, "size"),
    ("flux_kontext", "flux-kontext-pro",
     {"prompt": "p", "inputImage": "http://127.0.0.1/x.png"}, "accessible"),
    ("suno_extend", "V5", {"audioId": "a", "defaultParamFlag": True, "prompt": "p"}, "style"),
    ("veo_extend", "veo3", {"prompt": "p"}, "taskId"),
])
def test_kie_refusals_are_final_with_kie_s_message(family: str, model: str,
                                                   bad: dict[str, Any], message: str,
                                                   client: KieClient,
                                                   receiver: Receiver) -> None:
    with pytest.raises(KieFinal) as refused:
        client.create_task(family, model, bad, receiver.url)
    assert refused.value.code == 422 and message in str(refused.value)



class FourKStub:
    """A scripted KIE answering get-4k-video the way its docs show: with the source's id."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, data: dict[str, Any]) -> None:
                body = json.dumps({"code": 200, "msg": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # get-4k-video
                sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self._answer({"taskId": sent["taskId"], "resultUrls": None})

            def do_GET(self) -> None:  # record-info
                stub.queries.append(self.path)
                self._answer({"taskId": "veo_task_src", "successFlag": 1, "response": {
                    "resultUrls": ["https://file.example/v/4k.mp4"]}})

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_4k_task_gets_an_id_of_its_own_even_when_kie_reuses_the_source_s() -> None:
    stub = FourKStub()
    client = KieClient(stub.url, API_KEY, max_tries=1)
    try:
        task_id = client.create_task("veo_4k", "veo3-4k", {"taskId": "veo_task_src"}, None)
        assert task_id == "veo_task_src#4k"  # never the source job's own task id
        report = client.get_task("veo_4k", task_id)
        assert stub.queries == ["/api/v1/veo/record-info?taskId=veo_task_src"]
        assert (report.task_id, report.state, report.result_urls) == (
            task_id, TaskState.SUCCESS, ("https://file.example/v/4k.mp4",))
    finally:
        client.close()
        stub.server.shutdown()
        stub.server.server_close()


@pytest.mark.parametrize("family", sorted(SOURCES))
def test_a_follow_up_of_a_task_kie_never_made_is_refused(family: str, client: KieClient,
                                                          receiver: Receiver) -> None:
    inp = _input(family, client=client)
    key = "audioId" if family == "suno_extend" else "taskId"
    inp[key] = "veo_task_0123456789abcdef-0" if family == "suno_extend" else "veo_task_unknown"
    with pytest.raises(KieFinal) as refused:
        client.create_task(family, CASES[family][0], inp, receiver.url)
    assert refused.value.code == 422 and key in str(refused.value)  # final: credits go back


def test_a_follow_up_of_a_running_task_is_refused(client: KieClient,
                                                  receiver: Receiver) -> None:
    running = client.create_task("veo", "veo3_fast", {"prompt": "a fox [stuck]"}, None)
    with pytest.raises(KieFinal) as refused:
        client.create_task("veo_extend", "veo3_fast", {"taskId": running, "prompt": "on"},
                           receiver.url)
    assert refused.value.code == 422 and "not succeeded" in str(refused.value)
