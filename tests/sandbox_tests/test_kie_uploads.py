"""The KIE emulator's file upload API and its refusal of input URLs KIE could not fetch."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_content import make_content

KEY = "test-key-0123"
AUTH = {"Authorization": f"Bearer {KEY}"}
PNG = make_content("image/png", 5_000)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[KieEmulator]:
    with KieEmulator(KEY, seed=7, duration_s=0, rate_limits=False, clock=clock,
                     upload_ttl_s=3600) as e:
        yield e


def stream(emu: KieEmulator, data: bytes = PNG, headers: dict[str, str] | None = None,
           **fields: str) -> requests.Response:
    form = {"uploadPath": "images/user-uploads", **fields}
    return requests.post(f"{emu.url}/api/file-stream-upload", data=form,
                         files={"file": ("photo.png", data, "image/png")},
                         headers=AUTH if headers is None else headers, timeout=10)


def post(emu: KieEmulator, kind: str, body: dict[str, Any],
         headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{emu.url}/api/file-{kind}-upload", json=body,
                         headers=AUTH if headers is None else headers, timeout=10)


def create(emu: KieEmulator, **inputs: Any) -> dict[str, Any]:
    body = {"model": "google/nano-banana-edit", "input": {"prompt": "make it blue", **inputs}}
    answer: dict[str, Any] = requests.post(f"{emu.url}/api/v1/jobs/createTask", json=body,
                                           headers=AUTH, timeout=5).json()
    return answer


def test_three_ways_to_upload_give_a_download_url_serving_the_same_bytes(
    emu: KieEmulator,
) -> None:
    first = stream(emu).json()
    assert first["success"] is True and first["code"] == 200
    data = first["data"]
    assert data["fileSize"] == len(PNG) and data["mimeType"] == "image/png"
    assert data["filePath"].startswith("images/user-uploads/") and data["fileName"]
    assert data["uploadedAt"].endswith("Z")
    served = requests.get(data["downloadUrl"], timeout=5)
    assert served.content == PNG and served.headers["Content-Type"] == "image/png"

    jpeg = make_content("image/jpeg", 3_000)
    as_data_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    second = post(emu, "base64", {"base64Data": as_data_url, "uploadPath": "images/u",
                                  "fileName": "a.jpg"}).json()["data"]
    assert second["fileName"] == "a.jpg" and second["mimeType"] == "image/jpeg"
    assert requests.get(second["downloadUrl"], timeout=5).content == jpeg

    third = post(emu, "url", {"fileUrl": data["downloadUrl"], "uploadPath": "images/u"}).json()
    assert third["success"] and third["data"]["fileSize"] == len(PNG)
    assert requests.get(third["data"]["downloadUrl"], timeout=5).content == PNG

    listed = emu.uploads()
    assert [u["endpoint"] for u in listed] == ["upload.stream", "upload.base64", "upload.url"]
    assert {u["authorization"] for u in listed} == {f"Bearer {KEY}"}
    assert listed[2]["source_url"] == data["downloadUrl"]


def test_same_name_replaces_the_older_file(emu: KieEmulator) -> None:
    stream(emu, fileName="same.png")
    newer = make_content("image/png", 6_000)
    url = stream(emu, newer, fileName="same.png").json()["data"]["downloadUrl"]
    assert requests.get(url, timeout=5).content == newer
    assert len(emu.uploads()) == 1


def test_uploads_need_the_key_an_upload_path_and_respect_the_size_limit(
    emu: KieEmulator,
) -> None:
    wrong = {"Authorization": "Bearer nope"}
    assert stream(emu, headers=wrong).status_code == 401
    assert post(emu, "base64", {"base64Data": "AAAA", "uploadPath": "x"}, {}).status_code == 401
    assert post(emu, "url", {"fileUrl": "https://x.example/a.png", "uploadPath": "x"},
                wrong).json()["code"] == 401
    missing = post(emu, "base64", {"base64Data": base64.b64encode(PNG).decode()})
    assert missing.status_code == 400 and "uploadPath" in missing.json()["msg"]
    assert post(emu, "base64", {"base64Data": "%%%", "uploadPath": "x"}).status_code == 400
    emu.configure(upload_limit_mb=1)
    too_big = stream(emu, make_content("image/png", 1_100_000))
    assert too_big.status_code == 400 and too_big.json()["success"] is False
    assert "1 MB" in too_big.json()["msg"]
    assert emu.uploads() == []


def test_uploads_expire_and_tasks_then_refuse_them(emu: KieEmulator, clock: Clock) -> None:
    url = stream(emu).json()["data"]["downloadUrl"]
    assert create(emu, image_urls=[url])["code"] == 200
    clock.now += 3599
    assert requests.get(url, timeout=5).status_code == 200
    clock.now += 2
    assert requests.get(url, timeout=5).status_code == 404
    refused = create(emu, image_urls=["https://cdn.example/ok.png", url])
    assert refused["code"] == 422 and "input.image_urls[1]" in refused["msg"]
    assert emu.uploads()[0]["expired"] is True

    fresh = stream(emu).json()["data"]["downloadUrl"]
    emu.expire_uploads()
    assert requests.get(fresh, timeout=5).status_code == 404
    assert create(emu, image_url=fresh)["code"] == 422


def test_upload_ttl_is_a_control_setting(emu: KieEmulator, clock: Clock) -> None:
    url = stream(emu).json()["data"]["downloadUrl"]
    changed = requests.post(f"{emu.url}/_control/config", json={"upload_ttl_s": 10}, timeout=5)
    assert changed.json()["upload_ttl_s"] == 10
    clock.now += 11
    assert requests.get(url, timeout=5).status_code == 404
    listed = requests.get(f"{emu.url}/_control/uploads", timeout=5).json()
    assert listed[0]["expired"] is True


@pytest.mark.parametrize("field, url", [
    ("image_url", "http://127.0.0.1:8081/x.png"),
    ("image_url", "http://localhost/x.png"),
    ("image_url", "http://10.1.2.3/x.png"),
    ("image_url", "http://192.168.1.5/x.png"),
    ("image_url", "http://[::1]/x.png"),
    ("image_url", "https://api.telegram.org/file/bot123:ABC/photos/file_1.jpg"),
    ("image_url", "ftp://cdn.example/x.png"),
    ("image_urls", ["https://cdn.example/a.png", "file:///etc/passwd"]),
])
def test_tasks_refuse_inputs_kie_could_not_fetch(emu: KieEmulator, field: str,
                                                 url: Any) -> None:
    refused = create(emu, **{field: url})
    assert refused["code"] == 422 and f"input.{field}" in refused["msg"]
    assert emu.stats()["creates"] == 0


def test_tasks_accept_public_urls_and_the_emulators_own_results(emu: KieEmulator) -> None:
    first = create(emu, image_urls=["https://file.aiquickdraw.com/custom-page/a.png"])
    assert first["code"] == 200
    task_id = first["data"]["taskId"]
    result = requests.get(f"{emu.url}/api/v1/jobs/recordInfo", params={"taskId": task_id},
                          headers=AUTH, timeout=5).json()["data"]
    assert result["state"] == "success"
    (result_url,) = json.loads(result["resultJson"])["resultUrls"]
    assert create(emu, image_urls=[result_url])["code"] == 200
    veo = requests.post(f"{emu.url}/api/v1/veo/generate", headers=AUTH, timeout=5, json={
        "prompt": "animate", "imageUrls": ["http://127.0.0.1:1/x.png"]}).json()
    assert veo["code"] == 422 and "imageUrls[0]" in veo["msg"]


def test_upload_faults_then_recovery(emu: KieEmulator) -> None:
    emu.set_faults({"endpoints": {"upload": [
        {"http_status": 503, "next": 1},
        {"http_status": 429, "retry_after": 2, "next": 1},
    ]}})
    assert stream(emu).status_code == 503
    limited = post(emu, "base64", {"base64Data": base64.b64encode(PNG).decode(),
                                   "uploadPath": "x"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    emu.set_faults({"endpoints": {"upload.stream": {"kind": "delay", "delay_s": 2, "next": 1}}})
    with pytest.raises(requests.Timeout):
        requests.post(f"{emu.url}/api/file-stream-upload", data={"uploadPath": "x"},
                      files={"file": ("a.png", PNG)}, headers=AUTH, timeout=0.3)
    assert stream(emu).json()["success"] is True
    assert len(emu.uploads()) == 2  # the slow one was stored, as KIE would
    assert emu.stats()["faults_fired"]["endpoint.upload.stream.error"] == 1
