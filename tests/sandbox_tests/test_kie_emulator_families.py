"""The KIE emulator's other families (Runway, 4o image, Flux Kontext, Veo 1080p) answer in
KIE's own shapes; the full client round trips are in tests/integration/test_kie_families."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.kie_emulator import KieEmulator
from tests.sandbox_tests.test_kie_emulator import AUTH, KEY, Receiver, until


@pytest.fixture
def emu() -> Iterator[KieEmulator]:
    with KieEmulator(KEY, seed=9, duration_s=0.3, rate_limits=False) as e:
        yield e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def post(emu: KieEmulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = requests.post(f"{emu.url}{path}", json=body, headers=AUTH,
                                           timeout=5).json()
    return answer


def record(emu: KieEmulator, path: str, task_id: str, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{emu.url}{path}", params={"taskId": task_id,
                                                                     **params},
                                          headers=AUTH, timeout=5).json()
    return answer


def test_runway_needs_a_callback_and_reports_its_own_states(emu: KieEmulator,
                                                            receiver: Receiver) -> None:
    assert post(emu, "/api/v1/runway/generate", {"prompt": "p"})["code"] == 422
    task = post(emu, "/api/v1/runway/generate", {
        "prompt": "p", "callBackUrl": receiver.url, "duration": 5, "quality": "720p",
    })["data"]["taskId"]
    assert record(emu, "/api/v1/runway/record-detail", task)["data"]["state"] in (
        "wait", "queueing")
    (callback,) = receiver.wait(1)
    data = json.loads(callback["body"])["data"]
    assert data["task_id"] == task  # snake case, as KIE sends it
    assert requests.get(data["video_url"], timeout=5).status_code == 200


def test_4o_image_reports_progress_until_done(emu: KieEmulator) -> None:
    task = post(emu, "/api/v1/gpt4o-image/generate", {"prompt": "p", "size": "1:1"})
    running = record(emu, "/api/v1/gpt4o-image/record-info", task["data"]["taskId"])["data"]
    assert (running["status"], running["successFlag"], running["response"]) == (
        "GENERATING", 0, None)
    assert 0.0 <= float(running["progress"]) < 1.0


def test_flux_kontext_result_is_served_and_its_origin_url_is_not(emu: KieEmulator) -> None:
    task = post(emu, "/api/v1/flux/kontext/generate", {"prompt": "p"})["data"]["taskId"]

    def done() -> dict[str, Any] | None:
        data = record(emu, "/api/v1/flux/kontext/record-info", task)["data"]
        return data if data["successFlag"] == 1 else None

    response = until(done)["response"]
    assert requests.get(response["resultImageUrl"], timeout=5).status_code == 200
    assert requests.get(response["originImageUrl"], timeout=5).status_code == 404


def test_veo_1080p_answers_not_ready_until_it_is(emu: KieEmulator) -> None:
    source = post(emu, "/api/v1/veo/generate", {"prompt": "p"})["data"]["taskId"]
    assert record(emu, "/api/v1/veo/get-1080p-video", source, index=0)["code"] == 422

    def ready() -> dict[str, Any] | None:
        answer = record(emu, "/api/v1/veo/get-1080p-video", source, index=0)
        return answer if answer["code"] == 200 else None

    url = until(ready)["data"]["resultUrl"]
    assert requests.get(url, timeout=5).status_code == 200


def test_faults_can_target_one_family_endpoint(emu: KieEmulator) -> None:
    emu.set_faults({"endpoints": {"midjourney.create": {"http_status": 500, "next": 1}}})
    body = {"taskType": "mj_txt2img", "prompt": "p"}
    assert post(emu, "/api/v1/mj/generate", body)["code"] == 500
    assert post(emu, "/api/v1/mj/generate", body)["code"] == 200
    assert emu.stats()["faults_fired"] == {"endpoint.midjourney.create.error": 1}
