"""KIE callback bodies → normalised ``TaskReport``s.

``parse_callback`` never raises: a callback body is attacker-controlled input arriving at a
public edge, and the callback app must always be able to record it and answer 2xx. Anything it
cannot understand comes back with ``report=None`` and a ``problem`` saying why, and the status
poller (the safety net) settles the task instead.

The shapes of every family (market, Veo and its extend/4K, Suno and its extend, Runway and its
extend, Aleph, Midjourney, 4o image, Flux Kontext) and what each means are in
:mod:`gateways.kie.callback_shapes`. The body's own keys pick the shape; the family hint (the
family the job was submitted to) is used only when they do not (e.g. a failure without
``info``).

Intermediate callbacks are never final: Suno's ``text``/``first`` and a 4o image callback
that still carries ``progress`` return a report in state ``RUNNING`` (no result URLs), and
``TaskState.final`` is False for it, so nothing can deliver or settle on it.

Contradictory bodies (market ``state: success`` with an error ``code``) and successes without
a result URL (except market's text results) give no report: the poll decides.

The tolerant converters live in :mod:`gateways.kie.convert`, the authentication helpers
(``verify_signature``, ``tokens_equal``) in :mod:`gateways.kie.auth`; both are re-exported
here for existing callers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateways.kie.auth import tokens_equal, verify_signature
from gateways.kie.callback_shapes import SHAPES, Unclear, detect_shape, intermediate
from gateways.kie.convert import (
    MAX_BODY_BYTES,
    code_int,
    find_task_id,
    http_urls,
    market_state,
    result_json_text,
    result_json_urls,
    short_text,
    suno_track_ids,
    suno_track_urls,
)
from gateways.kie.families import FAMILIES
from trt_actors import TaskReport, TaskState

__all__ = [
    "MAX_BODY_BYTES",
    "ParsedCallback",
    "http_urls",
    "market_state",
    "parse_callback",
    "result_json_urls",
    "short_text",
    "suno_track_urls",
    "tokens_equal",
    "verify_signature",
]


@dataclass(frozen=True, slots=True)
class ParsedCallback:
    """What a callback body said, as far as it could be understood."""

    task_id: str | None
    """KIE's task id, if found at ``data.taskId``, ``data.task_id`` or the top level."""
    report: TaskReport | None
    """The normalised observation; None when the body could not be understood."""
    callback_type: str | None = None
    """Suno's ``callbackType`` (text/first/complete/error), lower case; None for others."""
    problem: str | None = None
    """Why the body could not be (fully) understood, for the callback inbox record."""
    family: str | None = None
    """The family understood: the hint's when the body has its shape, else the shape's name
    (market, veo, suno, runway, aleph, midjourney, gpt4o_image, flux_kontext)."""


# --- parsing -----------------------------------------------------------------------------------


def _load(body: object) -> object:
    if isinstance(body, str):
        text = body
        if len(text) > MAX_BODY_BYTES:
            raise Unclear("body too large")
    elif isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        if len(raw) > MAX_BODY_BYTES:
            raise Unclear("body too large")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Unclear("body is not UTF-8") from None
    else:
        raise Unclear(f"body of type {type(body).__name__}")
    if not text.strip():
        raise Unclear("empty body")
    try:
        return json.loads(text)
    except RecursionError:
        raise Unclear("JSON nested too deeply") from None
    except ValueError:
        raise Unclear("body is not JSON") from None


def _family(doc: Mapping[str, Any], data: Mapping[str, Any],
            hint: str | None) -> tuple[str | None, str | None]:
    """(family, callback shape): the body's own shape wins over the hint -- the hint is where
    we *sent* the callback URL, the shape is what actually arrived."""
    hinted = hint.strip().lower() if isinstance(hint, str) else None
    spec = FAMILIES.get(hinted) if hinted else None
    hinted_shape = spec.callback_shape if spec is not None else (
        hinted if hinted in SHAPES else None)
    shape = detect_shape(doc, data)
    if shape is None:
        return (hinted, hinted_shape) if hinted_shape else (None, None)
    return (hinted if shape == hinted_shape else shape), shape


def _parse(body: object, family_hint: str | None) -> ParsedCallback:
    try:
        doc = _load(body)
    except Unclear as exc:
        return ParsedCallback(None, None, problem=str(exc))
    if not isinstance(doc, Mapping):
        return ParsedCallback(None, None, problem=f"body is a JSON {type(doc).__name__}")
    raw_data = doc.get("data")
    data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
    task_id = find_task_id(doc, data)
    code = code_int(doc.get("code"))
    message = short_text(doc.get("msg")) or short_text(doc.get("message"))
    raw_type = data.get("callbackType")
    callback_type = raw_type.strip().lower()[:40] if isinstance(raw_type, str) else None
    family, shape = _family(doc, data, family_hint)

    def unclear(problem: str) -> ParsedCallback:
        return ParsedCallback(task_id, None, callback_type, problem, family)

    if shape is None:
        if code is None or code == 200 or task_id is None:
            return unclear("unrecognised callback shape")
        # Every family reports failure by a non-200 code (e.g. a Veo failure carries no
        # ``info``, an Aleph failure ``data: null``), so that much is understood even when
        # the shape is not.
        report = TaskReport(task_id, TaskState.FAILED, (), str(code), message)
        return ParsedCallback(task_id, report, callback_type, None, None)
    try:
        state, urls, fail_code, fail_message = SHAPES[shape](doc, data, code, message)
    except Unclear as exc:
        return unclear(str(exc))
    if task_id is None:
        return unclear("no task id")
    text = None  # a market result that is text (speech-to-text) has no URLs
    if state is TaskState.SUCCESS and not urls and shape == "market":
        text = result_json_text(data.get("resultJson"))
    if state is TaskState.SUCCESS and not urls and not text and intermediate(data):
        state = TaskState.RUNNING  # "done" with no result, yet still in progress: not final
    ids = suno_track_ids(data.get("data")) \
        if state is TaskState.SUCCESS and shape == "suno" else ()
    report = TaskReport(task_id, state, urls, fail_code, fail_message, text, ids)
    return ParsedCallback(task_id, report, callback_type, None, family)


def parse_callback(body: bytes, family_hint: str | None = None) -> ParsedCallback:
    """Understand a KIE callback body. Never raises, whatever ``body`` is.

    ``family_hint`` (a family of ``families.FAMILIES``, or a callback shape name) is the
    family the job was submitted to; it is used only when the body's shape does not say which
    family it is (e.g. a Veo failure callback with no ``info``).
    """
    try:
        return _parse(body, family_hint)
    except Exception as exc:  # the last line of defence: a bug here must not drop a callback
        return ParsedCallback(None, None, problem=f"parser error: {type(exc).__name__}")
