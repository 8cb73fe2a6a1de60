"""KIE status answers (record-info ``data``) → normalised ``TaskReport``s.

One function per status shape, chosen through :data:`gateways.kie.families.FAMILIES`; the
envelope (HTTP status, body ``code``) has already been checked by
:class:`~gateways.kie.client.KieClient`. A state this module does not know is reported as
RUNNING, not final: the poller keeps asking and the janitor bounds the job's life.

Status shapes (docs.kie.ai, each family's "Get ... Details" page):

* market ``GET /api/v1/jobs/recordInfo``: ``state`` waiting/queuing/generating/success/fail,
  ``resultJson`` (a JSON string with ``resultUrls``), ``failCode``, ``failMsg``.
* veo ``GET /api/v1/veo/record-info`` (generate, extend, 1080p and 4K upgrades alike):
  ``successFlag`` 0 generating, 1 success, 2 failed, 3 generation failed;
  ``response.resultUrls``; ``errorCode``, ``errorMessage``.
* suno ``GET /api/v1/generate/record-info`` (generate and extend): ``status`` PENDING,
  TEXT_SUCCESS, FIRST_SUCCESS (not final), SUCCESS, or *_FAILED / *_ERROR / *_EXCEPTION;
  ``response.sunoData[].audioUrl``.
* runway ``GET /api/v1/runway/record-detail`` (generate and extend): ``state`` wait,
  queueing, generating, success, fail; ``videoInfo.videoUrl``; ``failCode``, ``failMsg``.
* aleph ``GET /api/v1/aleph/record-info``: ``successFlag`` as Veo; ``response.resultVideoUrl``.
* midjourney ``GET /api/v1/mj/record-info``: ``successFlag`` as Veo;
  ``resultInfoJson.resultUrls[].resultUrl``.
* gpt4o_image ``GET /api/v1/gpt4o-image/record-info``: ``status`` GENERATING, SUCCESS,
  CREATE_TASK_FAILED, GENERATE_FAILED (and ``successFlag`` 0/1/2, ``progress`` "0.00".."1.00");
  ``response.resultUrls``.
* flux_kontext ``GET /api/v1/flux/kontext/record-info``: ``successFlag`` as Veo;
  ``response.resultImageUrl``.
* veo_1080p ``GET /api/v1/veo/get-1080p-video?taskId=&index=``: ``data.resultUrl`` once the
  1080p file is ready; before that KIE answers a non-200 code (the poller keeps asking).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from gateways.kie.callback_shapes import mj_result_urls
from gateways.kie.convert import (
    body_code,
    http_urls,
    market_state,
    nested,
    result_json_text,
    result_json_urls,
    short_text,
    suno_track_ids,
    suno_track_urls,
)
from trt_actors import TaskReport, TaskState

__all__ = ["REPORTS", "body_code", "task_report"]

log = logging.getLogger("trt.kie")

Report = Callable[[str, Mapping[str, Any]], TaskReport]


def _unknown_state(shape: str, task_id: str, value: object) -> TaskReport:
    # Not final: the poller keeps asking and the janitor bounds the job's life.
    log.warning("KIE status %s task=%s: unknown state %r; treated as running",
                shape, task_id, short_text(value))
    return TaskReport(task_id, TaskState.RUNNING)


def _state_report(shape: str, task_id: str, data: Mapping[str, Any],
                  urls: tuple[str, ...]) -> TaskReport:
    """Market-vocabulary ``state`` (market, runway)."""
    state = market_state(data.get("state"))
    if state is None:
        return _unknown_state(shape, task_id, data.get("state"))
    if state is TaskState.SUCCESS:
        return TaskReport(task_id, state, urls)
    if state is TaskState.FAILED:
        return TaskReport(task_id, state, (), short_text(data.get("failCode")),
                          short_text(data.get("failMsg")))
    return TaskReport(task_id, state)


def _market_report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
    report = _state_report("market", task_id, data, result_json_urls(data.get("resultJson")))
    if report.state is TaskState.SUCCESS and not report.result_urls:  # a text result
        return dataclasses.replace(report, result_text=result_json_text(data.get("resultJson")))
    return report


def _runway_report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
    return _state_report("runway", task_id, data,
                         http_urls(nested(data, "videoInfo", "videoUrl")))


def _flag_report(shape: str, urls: Callable[[Mapping[str, Any]], tuple[str, ...]]) -> Report:
    """``successFlag`` 0 running, 1 success, 2 and 3 failed (Veo, Aleph, MJ, Flux Kontext)."""

    def report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
        flag = body_code(data.get("successFlag"))  # an int, or a digit string
        if flag == 0:
            return TaskReport(task_id, TaskState.RUNNING)
        if flag == 1:
            return TaskReport(task_id, TaskState.SUCCESS, urls(data))
        if flag in (2, 3):
            return TaskReport(task_id, TaskState.FAILED, (), short_text(data.get("errorCode")),
                              short_text(data.get("errorMessage")))
        return _unknown_state(shape, task_id, data.get("successFlag"))

    return report


def _suno_report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
    raw = data.get("status")
    status = raw.strip().upper() if isinstance(raw, str) else ""
    if status == "PENDING":
        return TaskReport(task_id, TaskState.PENDING)
    if status in ("TEXT_SUCCESS", "FIRST_SUCCESS"):  # tracks still coming: not final
        return TaskReport(task_id, TaskState.RUNNING)
    if status == "SUCCESS":
        tracks = nested(data, "response", "sunoData")
        return TaskReport(task_id, TaskState.SUCCESS, suno_track_urls(tracks),
                          result_ids=suno_track_ids(tracks))
    # CREATE_TASK_FAILED, GENERATE_AUDIO_FAILED, CALLBACK_EXCEPTION, SENSITIVE_WORD_ERROR
    if status.endswith(("FAILED", "ERROR", "EXCEPTION")):
        return TaskReport(task_id, TaskState.FAILED, (),
                          short_text(data.get("errorCode")) or status,
                          short_text(data.get("errorMessage")))
    return _unknown_state("suno", task_id, raw)


def _gpt4o_report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
    raw = data.get("status")
    status = raw.strip().upper() if isinstance(raw, str) else ""
    if status == "GENERATING":
        return TaskReport(task_id, TaskState.RUNNING)
    if status == "SUCCESS":
        return TaskReport(task_id, TaskState.SUCCESS,
                          http_urls(nested(data, "response", "resultUrls")))
    if status.endswith("FAILED"):  # CREATE_TASK_FAILED, GENERATE_FAILED
        return TaskReport(task_id, TaskState.FAILED, (),
                          short_text(data.get("errorCode")) or status,
                          short_text(data.get("errorMessage")))
    return _flag_report("gpt4o_image", lambda d: http_urls(nested(d, "response", "resultUrls")))(
        task_id, data)


def _veo_1080p_report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
    urls = http_urls(data.get("resultUrl"))
    return TaskReport(task_id, TaskState.SUCCESS, urls) if urls \
        else TaskReport(task_id, TaskState.RUNNING)


REPORTS: dict[str, Report] = {
    "market": _market_report,
    "veo": _flag_report("veo", lambda d: http_urls(nested(d, "response", "resultUrls"))),
    "suno": _suno_report,
    "runway": _runway_report,
    "aleph": _flag_report("aleph", lambda d: http_urls(nested(d, "response",
                                                                 "resultVideoUrl"))),
    "midjourney": _flag_report("midjourney",
                               lambda d: mj_result_urls(nested(d, "resultInfoJson",
                                                               "resultUrls"))),
    "gpt4o_image": _gpt4o_report,
    "flux_kontext": _flag_report("flux_kontext",
                                 lambda d: http_urls(nested(d, "response", "resultImageUrl"))),
    "veo_1080p": _veo_1080p_report,
}
"""Status shape name → its interpreter."""


def task_report(shape: str, task_id: str, data: Mapping[str, Any]) -> TaskReport:
    """The report for one status answer's ``data`` in status shape ``shape``."""
    return REPORTS.get(shape, _market_report)(task_id, data)
