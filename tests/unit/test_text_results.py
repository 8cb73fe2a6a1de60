"""A model whose result is text (speech-to-text): KIE answers ``resultJson`` with a
``resultObject`` instead of ``resultUrls``; the callback parser and the status report read the
text, and the job's result message carries it (the user gets the transcript, not a failure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateways.kie.callbacks import parse_callback
from gateways.kie.convert import MAX_RESULT_TEXT, result_json_text
from gateways.kie.reports import task_report
from trt_actors.messages import TaskState

TRANSCRIPT = {"language_code": "en", "text": "Hello there. General Kenobi.",
              "words": [{"text": "Hello", "start": 0.0, "end": 0.4}]}


def _data(result_json: Any) -> dict[str, Any]:
    return {"taskId": "t-1", "model": "elevenlabs/speech-to-text", "state": "success",
            "resultJson": result_json, "failCode": "", "failMsg": ""}


def test_a_transcript_callback_is_a_success_with_the_text() -> None:
    body = {"code": 200, "msg": "ok", "data": _data(json.dumps({"resultObject": TRANSCRIPT}))}
    parsed = parse_callback(json.dumps(body).encode())
    assert parsed.report is not None and parsed.report.state is TaskState.SUCCESS
    assert parsed.report.result_text == TRANSCRIPT["text"] and parsed.report.result_urls == ()


def test_the_status_report_reads_the_same_text() -> None:
    report = task_report("market", "t-1", _data(json.dumps({"resultObject": TRANSCRIPT})))
    assert report.state is TaskState.SUCCESS and report.result_text == TRANSCRIPT["text"]


def test_a_media_result_has_no_text() -> None:
    data = _data(json.dumps({"resultUrls": ["https://cdn.example/a.png"]}))
    report = task_report("market", "t-1", data)
    assert report.result_urls == ("https://cdn.example/a.png",) and report.result_text is None


@pytest.mark.parametrize(("value", "text"), [
    ({"resultObject": {"text": "  hi  "}}, "  hi  "),
    ({"resultObject": "plain words"}, "plain words"),
    ({"resultObject": {"segments": [1, 2]}}, '{"segments": [1, 2]}'),  # no text: the object
    ({"resultObject": {"text": "   "}}, None),
    ({"resultObject": {}}, None),
    ({"resultObject": None}, None),
    ({"resultUrls": []}, None),
    ("not json {", None),
    ("", None),
    (None, None),
    (["a"], None),
    (7, None),
])
def test_the_text_is_found_or_none_and_never_raises(value: Any, text: str | None) -> None:
    raw = value if isinstance(value, str) or value is None else json.dumps(value)
    assert result_json_text(raw) == text
    assert result_json_text(value) == text


def test_a_huge_text_is_cut_to_the_limit() -> None:
    raw = json.dumps({"resultObject": {"text": "x" * (MAX_RESULT_TEXT + 10)}})
    found = result_json_text(raw)
    assert found is not None and len(found) == MAX_RESULT_TEXT
