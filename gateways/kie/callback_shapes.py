"""What each KIE callback shape means: one function per shape, chosen by ``parse_callback``.

Each takes the body's ``data`` object (and ``doc``, the whole body), the envelope ``code`` and
message, and returns an :data:`Outcome`, or raises :class:`Unclear` when the body cannot be
trusted to say anything (the status poller then settles the task). Shapes, as KIE's pages show
them (docs.kie.ai; see /work/shared/kie-api.md):

* ``market``: ``{code, msg, data: {taskId, state, resultJson, failCode, failMsg}}``
* ``veo`` (generate, extend, get-4k-video): ``{code, msg, data: {taskId, info: {resultUrls,
  originUrls | imageUrls, resolution}}}``; code 200 success, else failed (``info`` null)
* ``suno`` (generate, extend): ``{code, msg, data: {callbackType: text|first|complete|error,
  task_id, data: [tracks]}}``; only ``complete`` and ``error`` are final
* ``runway`` (generate, extend): ``{code, msg, data: {task_id, video_id, video_url,
  image_url}}``; code 200 success; 400/500 failed with the reason in ``msg``
* ``aleph`` (Runway Aleph): ``{code, msg, data: {result_video_url, result_image_url},
  taskId}`` -- the task id at the top level; failure: ``data: null``
* ``midjourney``: ``{code, msg, data: {taskId, promptJson, resultUrls: [url, ...]}}``;
  failure: code 500 and ``resultUrls: []``
* ``gpt4o_image``: ``{code, msg, data: {taskId, info: {result_urls: [...]}}}``; failure
  400 (content policy), 451 (input download failed), 500. KIE's record-info reports
  ``progress`` ("0.48") while ``GENERATING``: a body carrying that progress, or a
  ``successFlag`` 0 / ``status`` GENERATING, is intermediate (RUNNING), never final.
* ``flux_kontext``: ``{code, msg, data: {taskId, info: {originImageUrl, resultImageUrl}}}``;
  failure 400 (content policy), 500, 501. ``originImageUrl`` expires in 10 minutes and is
  never the result.

A success without any result URL is unclear (the poll decides), except in the market shape,
whose text results (``resultObject``) carry no URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateways.kie.convert import (
    body_code,
    http_urls,
    market_state,
    nested,
    result_json_urls,
    short_text,
    suno_track_urls,
)
from trt_actors import TaskState

__all__ = ["SHAPES", "Outcome", "Unclear", "detect_shape", "intermediate", "mj_result_urls"]

Outcome = tuple[TaskState, tuple[str, ...], str | None, str | None]
"""(state, result URLs, fail code, fail message)."""


class Unclear(Exception):
    """The body's meaning is unclear; the message says why."""


def _failed(code: int | None, message: str | None, fail_code: str | None = None,
            fail_message: str | None = None) -> Outcome:
    if fail_code is None and code is not None and code != 200:
        fail_code = str(code)
    return TaskState.FAILED, (), fail_code, fail_message or message


def mj_result_urls(value: object) -> tuple[str, ...]:
    """Midjourney's ``resultUrls``: plain URLs (callback) or ``[{resultUrl}]`` (record-info)."""
    if isinstance(value, list):
        value = [item.get("resultUrl") if isinstance(item, Mapping) else item
                 for item in value[:200]]
    return http_urls(value)


def intermediate(data: Mapping[str, Any]) -> bool:
    """True when a body says the task is still going (4o ``progress`` below 1 with no result,
    ``successFlag`` 0, ``status`` GENERATING/PENDING): never a final observation."""
    if body_code(data.get("successFlag")) == 0:
        return True
    status = data.get("status")
    if isinstance(status, str) and status.strip().upper() in ("GENERATING", "PENDING"):
        return True
    progress = data.get("progress")
    if isinstance(progress, bool) or progress is None:
        return False
    try:
        value = float(progress) if isinstance(progress, int | float | str) else 1.0
    except ValueError:
        return False
    return value < 1.0


def _market(doc: Mapping[str, Any], data: Mapping[str, Any], code: int | None,
            message: str | None) -> Outcome:
    state = market_state(data.get("state"))
    if state is None:
        if code is not None and code != 200:
            return _failed(code, message)
        raise Unclear("market callback without a known state")
    if state is TaskState.SUCCESS:
        if code is not None and code != 200:
            raise Unclear(f"contradictory market callback: state success, code {code}")
        urls = result_json_urls(data.get("resultJson")) or http_urls(data.get("resultUrls"))
        return state, urls, None, None
    if state is TaskState.FAILED:
        return _failed(code, message, short_text(data.get("failCode")),
                       short_text(data.get("failMsg")))
    return state, (), None, None


def _veo(doc: Mapping[str, Any], data: Mapping[str, Any], code: int | None,
         message: str | None) -> Outcome:
    if code is None:
        raise Unclear("veo callback without a code")
    if code != 200:
        return _failed(code, message)
    return _success(http_urls(nested(data, "info", "resultUrls")), "veo")


def _suno(doc: Mapping[str, Any], data: Mapping[str, Any], code: int | None,
          message: str | None) -> Outcome:
    raw_type = data.get("callbackType")
    callback_type = raw_type.strip().lower() if isinstance(raw_type, str) else None
    if (code is not None and code != 200) or callback_type == "error":
        return _failed(code, message)
    if callback_type in ("text", "first"):
        return TaskState.RUNNING, (), None, None
    if callback_type != "complete":
        raise Unclear(f"unknown suno callbackType {short_text(raw_type)!r}")
    return _success(suno_track_urls(data.get("data")), "suno")


def _success(urls: tuple[str, ...], what: str) -> Outcome:
    if not urls:
        raise Unclear(f"{what} callback without a result URL")
    return TaskState.SUCCESS, urls, None, None


def _runway(doc: Mapping[str, Any], data: Mapping[str, Any], code: int | None,
            message: str | None) -> Outcome:
    if code is not None and code != 200:
        return _failed(code, message)
    return _success(http_urls(data.get("video_url")), "runway")


def _aleph(doc: Mapping[str, Any], data: Mapping[str, Any], code: int | None,
           message: str | None) -> Outcome:
    if code is None:
        raise Unclear("aleph callback without a code")
    if code != 200:
        return _failed(code, message)
    return _success(http_urls(data.get("result_video_url")), "aleph")


def _midjourney(doc: Mapping[str, Any], data: Mapping[str, Any], code: int | None,
                message: str | None) -> Outcome:
    if code is None:
        raise Unclear("midjourney callback without a code")
    if code != 200:
        return _failed(code, message)
    return _success(mj_result_urls(data.get("resultUrls")), "midjourney")


def _gpt4o_image(doc: Mapping[str, Any], data: Mapping[str, Any], code: int | None,
                 message: str | None) -> Outcome:
    if code is None:
        raise Unclear("4o image callback without a code")
    if code != 200:
        return _failed(code, message)
    urls = http_urls(nested(data, "info", "result_urls"))
    if not urls and intermediate(data):
        return TaskState.RUNNING, (), None, None
    return _success(urls, "4o image")


def _flux_kontext(doc: Mapping[str, Any], data: Mapping[str, Any], code: int | None,
                  message: str | None) -> Outcome:
    if code is None:
        raise Unclear("flux kontext callback without a code")
    if code != 200:
        return _failed(code, message)
    return _success(http_urls(nested(data, "info", "resultImageUrl")), "flux kontext")


SHAPES = {
    "market": _market, "veo": _veo, "suno": _suno, "runway": _runway, "aleph": _aleph,
    "midjourney": _midjourney, "gpt4o_image": _gpt4o_image, "flux_kontext": _flux_kontext,
}
"""Callback shape name → its interpreter."""


def detect_shape(doc: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    """The callback shape the body's own keys identify; None when nothing distinctive (an
    ``info: null`` is not: Veo, 4o image and Flux Kontext failures all carry one)."""
    if "callbackType" in data:
        return "suno"
    if "state" in data:
        return "market"
    info = data.get("info")
    if isinstance(info, Mapping):
        if "result_urls" in info:
            return "gpt4o_image"
        if "resultImageUrl" in info or "originImageUrl" in info:
            return "flux_kontext"
        return "veo"
    if "video_url" in data or "video_id" in data:
        return "runway"
    if "result_video_url" in data:
        return "aleph"
    if "resultUrls" in data or "promptJson" in data:
        return "midjourney"
    return None
