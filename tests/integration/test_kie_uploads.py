"""The KIE upload client against the KIE emulator: a URL out, retries, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from gateways.kie.uploads import KieUploader
from sandbox.kie_emulator import KieEmulator
from trt_actors.errors import KieAuthError, KieFinal, KieRetryable

KEY = "upload-test-kie-key-0123456"


@pytest.fixture
def emu() -> Iterator[KieEmulator]:
    with KieEmulator(KEY, duration_s=0) as kie:
        yield kie


def test_an_upload_answers_a_url_that_serves_the_bytes(emu: KieEmulator) -> None:
    up = KieUploader(emu.url, KEY)
    first = up.upload(b"\xff\xd8jpeg-bytes", name_hint="photo.jpg", mime_type="image/jpeg")
    second = up.upload(b"other", name_hint="photo.jpg")
    assert requests.get(first.url, timeout=5).content == b"\xff\xd8jpeg-bytes"
    assert first.file_name != second.file_name and first.file_name.endswith(".jpg")
    rows = emu.uploads()
    assert [r["endpoint"] for r in rows] == ["upload.stream"] * 2
    assert {r["uploadPath"] for r in rows} == {"trt/user-uploads"}
    assert all(r["authorization"] == f"Bearer {KEY}" for r in rows)
    up.close()


def test_transient_faults_are_retried_and_refusals_are_final(emu: KieEmulator) -> None:
    emu.set_faults({"endpoints": {"upload.stream": {"next": 2, "http_status": 500}}})
    up = KieUploader(emu.url, KEY, backoff_base=0.01, backoff_cap=0.05)
    assert up.upload(b"x" * 10).url.startswith(emu.url)
    emu.set_faults({"endpoints": {"upload.stream": {"next": 3, "http_status": 500}}})
    with pytest.raises(KieRetryable):
        up.upload(b"y" * 10)
    with pytest.raises(KieAuthError):
        KieUploader(emu.url, "a-wrong-key-00000000").upload(b"z")
    emu.configure(upload_limit_mb=0.001)
    with pytest.raises(KieFinal) as refused:
        up.upload(b"w" * 5000)
    assert refused.value.code == 400 and KEY not in str(refused.value)


def test_the_probe_creates_nothing(emu: KieEmulator) -> None:
    up = KieUploader(emu.url, KEY)
    status, _ = up.probe()
    assert status == 400 and emu.uploads() == []
    assert KieUploader(emu.url, "a-wrong-key-00000000").probe()[0] == 401
