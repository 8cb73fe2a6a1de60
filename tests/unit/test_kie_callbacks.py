"""KIE callback parsing (every documented family shape, garbage, fuzzing) and callback auth.

Set TRT_FUZZ_EXAMPLES (e.g. 5000) to fuzz harder than the default quick run.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateways.kie.callbacks import ParsedCallback, parse_callback, tokens_equal, verify_signature
from trt_actors.messages import TaskReport, TaskState

FUZZ = settings(
    max_examples=int(os.environ.get("TRT_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def parse(doc: Any, hint: str | None = None) -> ParsedCallback:
    return parse_callback(json.dumps(doc).encode(), hint)


# --- documented shapes (kie-api.md) ---------------------------------------------------------

MARKET_SUCCESS: dict[str, Any] = {
    "code": 200, "msg": "Playground task completed successfully.",
    "data": {
        "taskId": "e989621f54392584b05867f87b160672", "model": "google/nano-banana",
        "state": "success", "param": "{\"model\":\"google/nano-banana\"}",
        "resultJson": "{\"resultUrls\":[\"https://tempfile.example/a.png\","
                      "\"https://tempfile.example/b.png\"]}",
        "failCode": None, "failMsg": None, "costTime": 8,
        "completeTime": 1755599644000, "createTime": 1755599634000,
    },
}
MARKET_FAIL: dict[str, Any] = {
    "code": 501, "msg": "Playground task failed.",
    "data": {"taskId": "m-fail-1", "model": "z-image", "state": "fail", "failCode": "500",
             "failMsg": "Internal server error", "resultJson": None},
}
VEO_SUCCESS: dict[str, Any] = {
    "code": 200, "msg": "Veo3 video generated successfully.",
    "data": {"taskId": "veo_task_abcdef123456",
             "info": {"resultUrls": ["https://example.com/video1.mp4"],
                      "originUrls": ["https://example.com/orig1.mp4"], "resolution": "1080p"},
             "fallbackFlag": False},
}
VEO_FAIL: dict[str, Any] = {
    "code": 400, "msg": "Your prompt was flagged by the content policy.",
    "data": {"taskId": "veo_task_fail", "fallbackFlag": False},
}
SUNO_TRACKS = [
    {"id": "8551aa", "audio_url": "https://example.cn/1.mp3",
     "stream_audio_url": "https://example.cn/s1", "image_url": "https://example.cn/1.jpeg",
     "title": "Iron Man", "duration": 198.44},
    {"id": "8551bb", "audio_url": "https://example.cn/2.mp3",
     "stream_audio_url": "https://example.cn/s2", "image_url": "https://example.cn/2.jpeg",
     "title": "Iron Man", "duration": 201.1},
]
SUNO_TEXT: dict[str, Any] = {"code": 200, "msg": "Text generation completed successfully.",
             "data": {"callbackType": "text", "task_id": "2fac9f72", "data": []}}
SUNO_FIRST: dict[str, Any] = {"code": 200, "msg": "First track completed.",
              "data": {"callbackType": "first", "task_id": "2fac9f72",
                       "data": SUNO_TRACKS[:1]}}
SUNO_COMPLETE: dict[str, Any] = {"code": 200, "msg": "All generated successfully.",
                 "data": {"callbackType": "complete", "task_id": "2fac9f72",
                          "data": SUNO_TRACKS}}
SUNO_ERROR: dict[str, Any] = {"code": 501, "msg": "Audio generation failed.",
              "data": {"callbackType": "error", "task_id": "2fac9f72", "data": None}}
RUNWAY_SUCCESS: dict[str, Any] = {"code": 200, "msg": "All generated successfully.",
                  "data": {"task_id": "ee603959-debb", "video_id": "485da89c",
                           "video_url": "https://file.example/k/x.mp4",
                           "image_url": "https://file.example/m/x.png"}}

VALID: dict[str, dict[str, Any]] = {
    "market_success": MARKET_SUCCESS, "market_fail": MARKET_FAIL,
    "veo_success": VEO_SUCCESS, "veo_fail": VEO_FAIL,
    "suno_text": SUNO_TEXT, "suno_first": SUNO_FIRST, "suno_complete": SUNO_COMPLETE,
    "suno_error": SUNO_ERROR, "runway_success": RUNWAY_SUCCESS,
}


@pytest.mark.parametrize("doc, hint, expected", [
    (MARKET_SUCCESS, None, TaskReport(
        "e989621f54392584b05867f87b160672", TaskState.SUCCESS,
        ("https://tempfile.example/a.png", "https://tempfile.example/b.png"))),
    (MARKET_FAIL, None, TaskReport("m-fail-1", TaskState.FAILED, (), "500",
                                   "Internal server error")),
    (VEO_SUCCESS, None, TaskReport("veo_task_abcdef123456", TaskState.SUCCESS,
                                   ("https://example.com/video1.mp4",))),
    (VEO_FAIL, "veo", TaskReport("veo_task_fail", TaskState.FAILED, (), "400",
                                 "Your prompt was flagged by the content policy.")),
    # Without the hint the shape is unknown, but a non-200 code means failure in every family.
    (VEO_FAIL, None, TaskReport("veo_task_fail", TaskState.FAILED, (), "400",
                                "Your prompt was flagged by the content policy.")),
    (SUNO_COMPLETE, None, TaskReport("2fac9f72", TaskState.SUCCESS,
                                     ("https://example.cn/1.mp3", "https://example.cn/2.mp3"),
                                     result_ids=("8551aa", "8551bb"))),  # extend's audioId
    (SUNO_ERROR, None, TaskReport("2fac9f72", TaskState.FAILED, (), "501",
                                  "Audio generation failed.")),
    (RUNWAY_SUCCESS, None, TaskReport("ee603959-debb", TaskState.SUCCESS,
                                      ("https://file.example/k/x.mp4",))),
], ids=["market_success", "market_fail", "veo_success", "veo_fail_hint", "veo_fail_nohint",
        "suno_complete", "suno_error", "runway_success"])
def test_documented_final_shapes(doc: dict[str, Any], hint: str | None,
                                 expected: TaskReport) -> None:
    parsed = parse(doc, hint)
    assert parsed.report == expected
    assert parsed.task_id == expected.task_id
    assert parsed.problem is None


@pytest.mark.parametrize("doc", [SUNO_TEXT, SUNO_FIRST], ids=["text", "first"])
def test_suno_intermediate_callbacks_are_not_final(doc: dict[str, Any]) -> None:
    parsed = parse(doc, "suno")
    assert parsed.report is not None
    assert parsed.report.state is TaskState.RUNNING
    assert not parsed.report.state.final
    assert parsed.report.result_urls == ()  # a first track must never be delivered as the result
    assert parsed.callback_type == doc["data"]["callbackType"]


@pytest.mark.parametrize("result_json, urls", [
    ("{\"resultUrls\":[\"https://x.example/1.png\"]}", ("https://x.example/1.png",)),
    ({"resultUrls": ["https://x.example/1.png"]}, ("https://x.example/1.png",)),
    ("{\"resultObject\":{\"text\":\"hello\"}}", ()),
    (None, ()), ("", ()), ("not json", ()),
    # Only http(s) URLs survive: no javascript:, file:, data: or non-strings.
    ({"resultUrls": ["javascript:alert(1)", "file:///etc/passwd", 7, None,
                     "https://ok.example/a.png", "https://ok.example/a.png"]},
     ("https://ok.example/a.png",)),
])
def test_market_result_json_variants(result_json: Any, urls: tuple[str, ...]) -> None:
    doc = copy.deepcopy(MARKET_SUCCESS)
    doc["data"]["resultJson"] = result_json
    parsed = parse(doc)
    assert parsed.report is not None
    assert parsed.report.state is TaskState.SUCCESS
    assert parsed.report.result_urls == urls


def test_task_id_positions_and_integer_ids() -> None:
    assert parse({"code": 200, "data": {"taskId": 12345, "state": "success"}}).task_id == "12345"
    assert parse({"code": 501, "taskId": "top-1", "data": None}).task_id == "top-1"
    assert parse({"code": 501, "task_id": "top-2", "data": []}).task_id == "top-2"
    # data.taskId wins over the top level.
    assert parse({"taskId": "outer", "data": {"taskId": "inner", "state": "fail"}}).task_id \
        == "inner"


def test_contradictory_market_body_gives_no_report() -> None:
    doc = copy.deepcopy(MARKET_SUCCESS)
    doc["code"] = 501
    parsed = parse(doc)
    assert parsed.report is None
    assert parsed.task_id == MARKET_SUCCESS["data"]["taskId"]
    assert parsed.problem and "contradictory" in parsed.problem


def test_known_state_without_task_id_has_no_report() -> None:
    doc = copy.deepcopy(MARKET_SUCCESS)
    del doc["data"]["taskId"]
    parsed = parse(doc)
    assert parsed.report is None and parsed.task_id is None
    assert parsed.problem == "no task id"


@pytest.mark.parametrize("body", [
    b"", b"   ", b"null", b"[]", b"[1,2]", b"42", b"\"a string\"", b"true", b"{",
    b"\xff\xfe\x00garbage", b"\xc3\x28", b"{\"data\": \"x\"}", b"{\"code\": \"abc\"}",
    b"[" * 100_000 + b"]" * 100_000,
    b"{\"data\":" * 50_000 + b"1" + b"}" * 50_000,
    b"{\"code\": 1" + b"0" * 5000 + b", \"data\": {\"taskId\": 1" + b"0" * 5000 + b"}}",
    b"{\"code\": NaN, \"data\": {\"taskId\": NaN, \"state\": Infinity}}",
    b"{\"code\": 1e999, \"data\": {\"taskId\": -1e999}}",
    b"{\"code\": 200, \"data\": {\"taskId\": \"\\ud800\", \"state\": \"success\"}}",
    b"{\"code\": 200, \"data\": {\"taskId\": [\"a\"], \"state\": {\"x\": 1}}}",
    b"{\"code\": 200, \"data\": {\"callbackType\": 5, \"task_id\": true, \"data\": \"x\"}}",
    b" " + b"x" * (2 << 20),
], ids=lambda b: repr(b[:24]))
def test_garbage_never_raises(body: bytes) -> None:
    parsed = parse_callback(body)
    assert isinstance(parsed, ParsedCallback)
    assert parsed.report is None
    assert parsed.problem


def test_non_bytes_inputs_never_raise() -> None:
    for body in (None, 42, object(), "{\"code\": 501, \"taskId\": \"s\"}"):
        parsed = parse_callback(body)  # type: ignore[arg-type]
        assert isinstance(parsed, ParsedCallback)
    assert parse_callback("{\"code\": 501, \"taskId\": \"s\"}").task_id == "s"  # type: ignore


# --- property tests -------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["code", "msg", "data", "taskId", "task_id", "state",
                                       "resultJson", "info", "callbackType", "video_url",
                                       "resultUrls", "failCode", "x"]), children, max_size=5),
    max_leaves=20,
)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(body: bytes) -> None:
    assert isinstance(parse_callback(body), ParsedCallback)


@FUZZ
@given(JSON_VALUES, st.sampled_from([None, "market", "veo", "suno", "runway", "bogus"]))
def test_random_json_never_raises(doc: Any, hint: str | None) -> None:
    parsed = parse_callback(json.dumps(doc).encode(), hint)
    assert isinstance(parsed, ParsedCallback)
    if parsed.report is not None:
        assert parsed.report.task_id == parsed.task_id
        assert all(u.startswith(("http://", "https://")) for u in parsed.report.result_urls)


ID_POSITIONS = [("data", "taskId"), ("data", "task_id"), ("taskId",), ("task_id",)]
IDS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=64)
# Replacement values never contain dicts with id keys, so no mutation can plant another id.
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
REPLACEMENTS = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(
    st.sampled_from(["state", "info", "resultJson", "x"]), SCALARS, max_size=3)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
        if isinstance(obj, list) else ()
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        else:
            return None
    return obj


@st.composite
def mutated_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    body = copy.deepcopy(VALID[draw(st.sampled_from(sorted(VALID)))])
    for key in ("taskId", "task_id"):
        body.pop(key, None)
        body["data"].pop(key, None)
    task_id = draw(IDS)
    position = draw(st.sampled_from(ID_POSITIONS))
    (body["data"] if len(position) == 2 else body)[position[-1]] = task_id
    for _ in range(draw(st.integers(0, 5))):
        candidates = [p for p in _paths(body) if p != position]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        # The id's own containers may be dropped (the id goes with them), never retyped.
        if position[: len(path)] == path or draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(REPLACEMENTS)
    return body, task_id, position


@FUZZ
@given(mutated_bodies())
def test_task_id_is_found_whatever_else_is_wrong(
    case: tuple[dict[str, Any], str, tuple[str, ...]],
) -> None:
    body, task_id, position = case
    parsed = parse(body)
    if _get(body, position) == task_id:
        assert parsed.task_id == task_id
    else:
        assert parsed.task_id is None
    if parsed.report is not None:
        assert parsed.report.task_id == task_id


# --- callback authentication ----------------------------------------------------------------

KEY = "whsec-test-key"
NOW = 1_760_000_000.0


def sign(key: str, task_id: str, timestamp: str) -> str:
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_good_signature_is_accepted() -> None:
    ts = str(int(NOW) - 10)
    assert verify_signature(KEY, "task-1", ts, sign(KEY, "task-1", ts), now=NOW)


@pytest.mark.parametrize("key, task_id, ts, sig_for", [
    ("other-key", "task-1", str(int(NOW)), ("whsec-test-key", "task-1")),
    (KEY, "task-2", str(int(NOW)), (KEY, "task-1")),  # signature of another task
    (KEY, "task-1", str(int(NOW) - 301), (KEY, "task-1")),  # stale (replay)
    (KEY, "task-1", str(int(NOW) + 301), (KEY, "task-1")),  # from the future
], ids=["wrong_key", "other_task", "stale", "future"])
def test_bad_signatures_are_refused(key: str, task_id: str, ts: str,
                                    sig_for: tuple[str, str]) -> None:
    signature = sign(sig_for[0], sig_for[1], ts)
    assert not verify_signature(key, task_id, ts, signature, now=NOW)


@pytest.mark.parametrize("ts, signature", [
    (str(int(NOW)), "%%%not-base64%%%"), (str(int(NOW)), ""), (str(int(NOW)), "YWJj"),
    (str(int(NOW)), "é"), ("", "YWJj"), ("nan", "YWJj"), ("1e9", "YWJj"),
    ("-5", "YWJj"), ("1_760_000_000", "YWJj"), ("9" * 400, "YWJj"),
])
def test_garbage_signature_inputs_are_refused(ts: str, signature: str) -> None:
    assert verify_signature(KEY, "task-1", ts, signature, now=NOW) is False


def test_signature_check_never_raises_on_wrong_types() -> None:
    ts = str(int(NOW))
    assert verify_signature(None, "t", ts, "x", now=NOW) is False  # type: ignore[arg-type]
    assert verify_signature(KEY, "\ud800", ts, "YWJj", now=NOW) is False
    assert verify_signature("", "t", ts, sign("", "t", ts), now=NOW) is False


def test_tokens_equal() -> None:
    assert tokens_equal("abc123", "abc123")
    assert not tokens_equal("abc123", "abc124")
    assert not tokens_equal("", "")  # an unset token must never match an empty one
    assert not tokens_equal(None, "x")
    assert not tokens_equal("\ud800", "\ud800")
