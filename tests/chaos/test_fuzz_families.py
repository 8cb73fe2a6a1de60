"""Fuzzing every KIE family's *authentic* callbacks through the real gateway and job actors.

The gateway fuzzer (``test_fuzz_gateway``) throws forgeries; here each body carries the job's
own token, as KIE's would. Per family (one catalog model each), a job waits on a task the KIE
emulator never finishes; the fuzzer then posts that task's intermediate callbacks (Suno's
``text``/``first``, 4o image progress) and malformed ones (cut, not JSON, a success without a
usable result URL), mutated at random. Properties: every request is answered without a 5xx;
the job stays waiting on KIE (submitted, or running after an intermediate callback) and
nothing is queued for delivery; then KIE's real success
callback, sent twice, finishes the job once with one delivery of its result.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.kie_emulator import KieEmulator
from tests.support.follow_ups import follow_up_example
from tests.support.kie_harness import CATALOG, Pipelines, kie_fixtures
from trt_actors.domain.states import JobState

pytestmark = pytest.mark.fuzz

emu, pipeline = kie_fixtures(seed=21, duration_s=0.05)

MODELS = {family: next(m.id for m in CATALOG.models.values() if m.family.value == family)
          for family in ("runway", "midjourney", "gpt4o_image", "flux_kontext", "veo_extend",
                         "veo_4k", "suno_extend")}
URL = "https://tempfile.example/result"


def success(family: str, task: str) -> dict[str, Any]:
    """KIE's success callback for ``task`` (docs.kie.ai, each family's callbacks page)."""
    if family == "runway":
        return {"code": 200, "msg": "All generated successfully.", "data": {
            "task_id": task, "video_id": "v1", "video_url": f"{URL}.mp4",
            "image_url": f"{URL}.png"}}
    if family == "midjourney":
        return {"code": 200, "msg": "success", "data": {
            "taskId": task, "promptJson": "{}", "resultUrls": [f"{URL}{n}.png" for n in range(4)]}}
    if family == "gpt4o_image":
        return {"code": 200, "msg": "success", "data": {
            "taskId": task, "info": {"result_urls": [f"{URL}.png"]}}}
    if family == "flux_kontext":
        return {"code": 200, "msg": "success", "data": {"taskId": task, "info": {
            "originImageUrl": f"{URL}-origin.jpg", "resultImageUrl": f"{URL}.jpg"}}}
    if family == "suno_extend":
        return {"code": 200, "msg": "All generated successfully.", "data": {
            "callbackType": "complete", "task_id": task,
            "data": [{"id": "a", "audio_url": f"{URL}0.mp3"},
                     {"id": "b", "audio_url": f"{URL}1.mp3"}]}}
    return {"code": 200, "msg": "success", "data": {  # veo_extend, veo_4k
        "taskId": task, "info": {"resultUrls": [f"{URL}.mp4"], "imageUrls": [f"{URL}.jpg"]}}}


def _without_result(family: str, body: dict[str, Any], junk: Any) -> dict[str, Any]:
    """The success body with its result URL replaced by ``junk`` (never an http(s) URL)."""
    data = body["data"]
    if family == "runway":
        data["video_url"] = junk
    elif family == "midjourney":
        data["resultUrls"] = junk
    elif family == "gpt4o_image":
        data["info"]["result_urls"] = junk
    elif family == "flux_kontext":
        data["info"]["resultImageUrl"] = junk
    elif family == "suno_extend":
        data["data"] = [{"id": "a", "audio_url": junk}]
    else:
        data["info"]["resultUrls"] = junk
    return body


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.text(max_size=20).filter(lambda t: not t.startswith("http")),
    st.lists(st.sampled_from(["", "ftp://x/y", "javascript:1"]), max_size=2),
    st.just("file:///etc/passwd"))
EXTRA_KEYS = st.sampled_from(["msg", "x", "note", "video_id", "promptJson", "fallbackFlag"])


@st.composite
def not_final(draw: st.DrawFn, family: str, task: str) -> bytes:
    """A body of this task that must not finish the job."""
    choice = draw(st.sampled_from(["intermediate", "no_result", "cut", "junk"]))
    if choice == "intermediate":
        if family == "suno_extend":
            body: dict[str, Any] = {"code": 200, "msg": "m", "data": {
                "callbackType": draw(st.sampled_from(["text", "first", "TEXT", " first "])),
                "task_id": task, "data": [{"id": "a", "audio_url": f"{URL}0.mp3"}]}}
        else:
            body = success(family, task)
            body = _without_result(family, body, draw(st.sampled_from([None, []])))
            body["data"]["progress"] = draw(st.sampled_from(["0.48", 0.1, "0.99"]))
            body["data"]["status"] = "GENERATING"
    elif choice == "no_result":
        body = _without_result(family, success(family, task), draw(JUNK))
    else:
        text = json.dumps(success(family, task))
        if choice == "cut":
            return text[: draw(st.integers(0, len(text) - 1))].encode()
        return draw(st.sampled_from([b"<html>502</html>", b"", b"null", b"[]",
                                     text.replace("{", "[", 1).encode()]))
    for _ in range(draw(st.integers(0, 2))):  # noise that never carries a decision
        body[draw(EXTRA_KEYS)] = draw(st.text(max_size=10))
    return json.dumps(body).encode()


def _cases(full: bool) -> int:
    return 2_000 if full else 60


@pytest.mark.parametrize("family", sorted(MODELS))
def test_intermediate_and_malformed_callbacks_never_finish_a_job_and_duplicates_deliver_once(
    family: str, pipeline: Pipelines, emu: KieEmulator, full: bool,
) -> None:
    logging.getLogger("tornado.access").setLevel(logging.ERROR)
    h = pipeline(callbacks=True)  # a follow-up continues a finished source task: made first
    example = follow_up_example(h.client, CATALOG, CATALOG.get(MODELS[family]))
    emu.set_faults({"tasks": {"stuck": {}}})  # only our bodies can end the task
    job = h.start_job(MODELS[family], example)
    h.wait_state(job.id, JobState.SUBMITTED)
    task = str(h.tasks(job.id)[0]["task_id"])
    token = h.token(job)
    answers: dict[int, int] = {}

    @settings(max_examples=_cases(full), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(body=not_final(family, task))
    def one(body: bytes) -> None:
        answer = h.post_callback(token, body)
        answers[answer.status_code] = answers.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, answer.text[:200]

    one()
    print(f"FUZZ {family}: answers {answers}")
    assert h.jobs.wait_idle(10)
    waiting = h.job(job.id).state
    assert waiting in (JobState.SUBMITTED, JobState.RUNNING), \
        f"a non-final callback moved the job to {waiting.value}: {h.events(job.id)[-1]}"
    assert h.outbox(job.id, "result") == []
    assert h.jobs.failures == 0, h.jobs.last_failure

    final = json.dumps(success(family, task)).encode()
    for _ in range(2):  # KIE may call back twice
        assert h.post_callback(token, copy.copy(final)).status_code < 300
    done = h.wait_state(job.id, JobState.SUCCEEDED)
    assert h.jobs.wait_idle(10)
    assert done.result_urls and all(u.startswith(URL) for u in done.result_urls)
    assert "origin" not in " ".join(done.result_urls)  # Flux: the result, never the source
    assert len(h.outbox(job.id, "result")) == 1, "a duplicate callback delivered twice"
    assert len(h.moves_into(job.id, JobState.SUCCEEDED)) == 1
