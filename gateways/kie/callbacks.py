"""KIE callback bodies → normalised ``TaskReport``s.

``parse_callback`` never raises: a callback body is attacker-controlled input arriving at a
public edge, and the callback app must always be able to record it and answer 2xx. Anything it
cannot understand comes back with ``report=None`` and a ``problem`` saying why, and the status
poller (the safety net) settles the task instead.

Shapes understood (see /work/shared/kie-api.md):

* market: ``{code, msg, data: {taskId, state, resultJson, failCode, failMsg}}``
* veo: ``{code, msg, data: {taskId, info: {resultUrls}}}``; code 200 success, else failed
* suno: ``{code, msg, data: {callbackType: text|first|complete|error, task_id, data: [...]}}``;
  only ``complete`` and ``error`` are final
* runway-like: ``{code, msg, data: {task_id, video_url, image_url}}``

Decision for Suno's intermediate ``text``/``first`` callbacks: they return a report in state
``RUNNING`` (not final, no result URLs) so the job can record progress; ``TaskState.final`` is
False for it, so nothing can deliver or settle on it.

Contradictory bodies (market ``state: success`` with an error ``code``) give no report: the
poll decides.

The authentication helpers (``verify_signature``, ``tokens_equal``) live in
:mod:`gateways.kie.auth` and are re-exported here for existing callers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from gateways.kie.auth import tokens_equal, verify_signature
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

MAX_BODY_BYTES = 1 << 20
"""Bodies larger than this are not parsed (KIE's callbacks are a few kB)."""

_MAX_ID_LEN = 200
_MAX_URLS = 50
_MAX_URL_LEN = 4096
_MAX_TEXT = 500
_FAMILIES = ("market", "veo", "suno", "runway")

_MARKET_STATES = {
    "waiting": TaskState.PENDING,
    "wait": TaskState.PENDING,
    "queuing": TaskState.PENDING,
    "queueing": TaskState.PENDING,
    "generating": TaskState.RUNNING,
    "success": TaskState.SUCCESS,
    "fail": TaskState.FAILED,
    "failed": TaskState.FAILED,
}

# Per-track audio URL fields of Suno (callbacks snake case, record-info camel case), best first.
_SUNO_AUDIO_KEYS = ("audio_url", "audioUrl", "source_audio_url", "sourceAudioUrl",
                    "stream_audio_url", "streamAudioUrl")


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
    """The shape recognised: market, veo, suno or runway."""


# --- small tolerant converters (shared with the KIE client) ------------------------------------


def _is_http_url(value: object) -> TypeGuard[str]:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_URL_LEN:
        return False
    if any(c.isspace() or not c.isprintable() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def http_urls(value: object) -> tuple[str, ...]:
    """The http(s) URL strings in ``value`` (a string or a list), deduplicated, in order."""
    items: Iterable[object]
    if isinstance(value, str):
        items = (value,)
    elif isinstance(value, list | tuple):
        items = value[: _MAX_URLS * 4]
    else:
        return ()
    out: list[str] = []
    for item in items:
        if _is_http_url(item) and item not in out:
            out.append(item)
            if len(out) >= _MAX_URLS:
                break
    return tuple(out)


def result_json_urls(value: object) -> tuple[str, ...]:
    """``resultUrls`` from a market ``resultJson``: a JSON string, an object, or null/empty."""
    if isinstance(value, str):
        if not value.strip() or len(value) > MAX_BODY_BYTES:
            return ()
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return ()
    if isinstance(value, Mapping):
        return http_urls(value.get("resultUrls"))
    if isinstance(value, list):
        return http_urls(value)
    return ()


def suno_track_urls(tracks: object) -> tuple[str, ...]:
    """One audio URL per Suno track: the first of its URL fields that holds an http(s) URL."""
    urls: list[str] = []
    for track in tracks[:_MAX_URLS] if isinstance(tracks, list) else ():
        if isinstance(track, Mapping):
            found = next((u for k in _SUNO_AUDIO_KEYS for u in http_urls(track.get(k))), None)
            if found is not None and found not in urls:
                urls.append(found)
    return tuple(urls)


def market_state(value: object) -> TaskState | None:
    """A market ``state`` string normalised; None if missing or unknown."""
    if not isinstance(value, str):
        return None
    return _MARKET_STATES.get(value.strip().lower())


def _code(value: object) -> int | None:
    """An envelope ``code`` as int: ints, integral floats and digit strings; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**6 else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and abs(value) < 1e6 \
            else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 6:
        return int(value.strip())
    return None


def short_text(value: object) -> str | None:
    """A short human-readable text from a str or number; None for anything else or empty."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) < 10**30:
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value[:_MAX_TEXT]
    return None


def _task_id(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 <= value < 10**30 else None
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_ID_LEN \
            and value.isprintable():
        return value
    return None


def _find_task_id(doc: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    for container, key in ((data, "taskId"), (data, "task_id"), (doc, "taskId"),
                           (doc, "task_id")):
        found = _task_id(container.get(key))
        if found is not None:
            return found
    return None


# --- parsing -----------------------------------------------------------------------------------


class _Unclear(Exception):
    """The body's meaning is unclear; the message says why."""


def _load(body: object) -> object:
    if isinstance(body, str):
        text = body
        if len(text) > MAX_BODY_BYTES:
            raise _Unclear("body too large")
    elif isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        if len(raw) > MAX_BODY_BYTES:
            raise _Unclear("body too large")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _Unclear("body is not UTF-8") from None
    else:
        raise _Unclear(f"body of type {type(body).__name__}")
    if not text.strip():
        raise _Unclear("empty body")
    try:
        return json.loads(text)
    except RecursionError:
        raise _Unclear("JSON nested too deeply") from None
    except ValueError:
        raise _Unclear("body is not JSON") from None


def _detect_family(data: Mapping[str, Any], hint: str | None) -> str | None:
    # The body's own shape wins over the hint: the hint is where we *sent* the callback URL,
    # the shape is what actually arrived.
    if "callbackType" in data:
        return "suno"
    if "state" in data:
        return "market"
    if "info" in data:
        return "veo"
    if "video_url" in data:
        return "runway"
    if isinstance(hint, str) and hint.strip().lower() in _FAMILIES:
        return hint.strip().lower()
    return None


def _failed(code: int | None, message: str | None, fail_code: str | None = None,
            fail_message: str | None = None) -> tuple[TaskState, tuple[str, ...], str | None,
                                                      str | None]:
    if fail_code is None and code is not None and code != 200:
        fail_code = str(code)
    return TaskState.FAILED, (), fail_code, fail_message or message


_Outcome = tuple[TaskState, tuple[str, ...], str | None, str | None]


def _market(data: Mapping[str, Any], code: int | None, message: str | None) -> _Outcome:
    state = market_state(data.get("state"))
    if state is None:
        if code is not None and code != 200:
            return _failed(code, message)
        raise _Unclear("market callback without a known state")
    if state is TaskState.SUCCESS:
        if code is not None and code != 200:
            raise _Unclear(f"contradictory market callback: state success, code {code}")
        urls = result_json_urls(data.get("resultJson")) or http_urls(data.get("resultUrls"))
        return state, urls, None, None
    if state is TaskState.FAILED:
        return _failed(code, message, short_text(data.get("failCode")),
                       short_text(data.get("failMsg")))
    return state, (), None, None


def _veo(data: Mapping[str, Any], code: int | None, message: str | None) -> _Outcome:
    if code is None:
        raise _Unclear("veo callback without a code")
    if code != 200:
        return _failed(code, message)
    info = data.get("info")
    urls = http_urls(info.get("resultUrls")) if isinstance(info, Mapping) else ()
    return TaskState.SUCCESS, urls, None, None


def _suno(data: Mapping[str, Any], code: int | None, message: str | None,
          callback_type: str | None) -> _Outcome:
    if (code is not None and code != 200) or callback_type == "error":
        return _failed(code, message)
    if callback_type in ("text", "first"):
        return TaskState.RUNNING, (), None, None
    if callback_type != "complete":
        raise _Unclear(f"unknown suno callbackType {callback_type!r}")
    return TaskState.SUCCESS, suno_track_urls(data.get("data")), None, None


def _runway(data: Mapping[str, Any], code: int | None, message: str | None) -> _Outcome:
    if code is not None and code != 200:
        return _failed(code, message)
    urls = http_urls(data.get("video_url"))
    if not urls:
        raise _Unclear("runway-like callback without a video_url")
    return TaskState.SUCCESS, urls, None, None


def _parse(body: object, family_hint: str | None) -> ParsedCallback:
    try:
        doc = _load(body)
    except _Unclear as exc:
        return ParsedCallback(None, None, problem=str(exc))
    if not isinstance(doc, Mapping):
        return ParsedCallback(None, None, problem=f"body is a JSON {type(doc).__name__}")
    raw_data = doc.get("data")
    data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
    task_id = _find_task_id(doc, data)
    code = _code(doc.get("code"))
    message = short_text(doc.get("msg")) or short_text(doc.get("message"))
    raw_type = data.get("callbackType")
    callback_type = raw_type.strip().lower()[:40] if isinstance(raw_type, str) else None
    family = _detect_family(data, family_hint)

    def unclear(problem: str) -> ParsedCallback:
        return ParsedCallback(task_id, None, callback_type, problem, family)

    if family is None:
        if code is None or code == 200 or task_id is None:
            return unclear("unrecognised callback shape")
        # Every family reports failure by a non-200 code (e.g. a Veo failure carries no
        # ``info``), so that much is understood even when the shape is not.
        report = TaskReport(task_id, TaskState.FAILED, (), str(code), message)
        return ParsedCallback(task_id, report, callback_type, None, None)
    try:
        if family == "market":
            outcome = _market(data, code, message)
        elif family == "veo":
            outcome = _veo(data, code, message)
        elif family == "suno":
            outcome = _suno(data, code, message, callback_type)
        else:
            outcome = _runway(data, code, message)
    except _Unclear as exc:
        return unclear(str(exc))
    if task_id is None:
        return unclear("no task id")
    state, urls, fail_code, fail_message = outcome
    report = TaskReport(task_id, state, urls, fail_code, fail_message)
    return ParsedCallback(task_id, report, callback_type, None, family)


def parse_callback(body: bytes, family_hint: str | None = None) -> ParsedCallback:
    """Understand a KIE callback body. Never raises, whatever ``body`` is.

    ``family_hint`` (market/veo/suno/runway) is the family the job was submitted to; it is
    used only when the body's shape does not say which family it is (e.g. a Veo failure
    callback with no ``info``).
    """
    try:
        return _parse(body, family_hint)
    except Exception as exc:  # the last line of defence: a bug here must not drop a callback
        return ParsedCallback(None, None, problem=f"parser error: {type(exc).__name__}")
