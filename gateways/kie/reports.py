"""KIE status answers (recordInfo / record-info ``data``) → normalised ``TaskReport``s.

One function per family, chosen by :func:`task_report`; the envelope (HTTP status, body
``code``) has already been checked by :class:`~gateways.kie.client.KieClient`. A state this
module does not know is reported as RUNNING, not final: the poller keeps asking and the
janitor bounds the job's life.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gateways.kie.callbacks import (
    http_urls,
    market_state,
    result_json_urls,
    short_text,
    suno_track_urls,
)
from trt_actors import TaskReport, TaskState

__all__ = ["body_code", "task_report"]

log = logging.getLogger("trt.kie")


def body_code(value: object) -> int | None:
    """A KIE ``code`` (or flag) as an int: an int, or a short digit string; else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 6:
        return int(value)
    return None


def task_report(family: str, task_id: str, data: Mapping[str, Any]) -> TaskReport:
    """The report for one status answer's ``data`` of a ``market``, ``veo`` or ``suno`` task."""
    if family == "market":
        return _market_report(task_id, data)
    if family == "veo":
        return _veo_report(task_id, data)
    return _suno_report(task_id, data)


def _unknown_state(family: str, task_id: str, value: object) -> TaskReport:
    # Not final: the poller keeps asking and the janitor bounds the job's life.
    log.warning("KIE status %s task=%s: unknown state %r; treated as running",
                family, task_id, short_text(value))
    return TaskReport(task_id, TaskState.RUNNING)


def _market_report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
    state = market_state(data.get("state"))
    if state is None:
        return _unknown_state("market", task_id, data.get("state"))
    if state is TaskState.SUCCESS:
        return TaskReport(task_id, state, result_json_urls(data.get("resultJson")))
    if state is TaskState.FAILED:
        return TaskReport(task_id, state, (), short_text(data.get("failCode")),
                          short_text(data.get("failMsg")))
    return TaskReport(task_id, state)


def _veo_report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
    flag = body_code(data.get("successFlag"))  # an int, or a digit string
    if flag == 0:
        return TaskReport(task_id, TaskState.RUNNING)
    if flag == 1:
        response = data.get("response")
        urls = http_urls(response.get("resultUrls")) if isinstance(response, Mapping) else ()
        return TaskReport(task_id, TaskState.SUCCESS, urls)
    if flag in (2, 3):
        return TaskReport(task_id, TaskState.FAILED, (), short_text(data.get("errorCode")),
                          short_text(data.get("errorMessage")))
    return _unknown_state("veo", task_id, data.get("successFlag"))


def _suno_report(task_id: str, data: Mapping[str, Any]) -> TaskReport:
    raw = data.get("status")
    status = raw.strip().upper() if isinstance(raw, str) else ""
    if status == "PENDING":
        return TaskReport(task_id, TaskState.PENDING)
    if status in ("TEXT_SUCCESS", "FIRST_SUCCESS"):  # tracks still coming: not final
        return TaskReport(task_id, TaskState.RUNNING)
    if status == "SUCCESS":
        response = data.get("response")
        tracks = response.get("sunoData") if isinstance(response, Mapping) else None
        return TaskReport(task_id, TaskState.SUCCESS, suno_track_urls(tracks))
    # CREATE_TASK_FAILED, GENERATE_AUDIO_FAILED, CALLBACK_EXCEPTION, SENSITIVE_WORD_ERROR
    if status.endswith(("FAILED", "ERROR", "EXCEPTION")):
        return TaskReport(task_id, TaskState.FAILED, (),
                          short_text(data.get("errorCode")) or status,
                          short_text(data.get("errorMessage")))
    return _unknown_state("suno", task_id, raw)
