"""Small tolerant converters for KIE's JSON (callbacks and status answers alike).

Every function accepts any value (KIE's bodies, and forged ones, are untrusted) and never
raises: what does not fit comes back as None or an empty tuple.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from trt_actors import TaskState

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_RESULT_TEXT",
    "body_code",
    "code_int",
    "find_task_id",
    "http_urls",
    "market_state",
    "nested",
    "result_json_text",
    "result_json_urls",
    "short_text",
    "suno_track_ids",
    "suno_track_urls",
    "task_id_text",
]

MAX_BODY_BYTES = 1 << 20
"""Bodies larger than this are not parsed (KIE's callbacks are a few kB)."""
MAX_RESULT_TEXT = 200_000
"""A text result is cut to this many characters (a long transcript is a file of ~200 kB)."""

_MAX_ID_LEN = 200
_MAX_URLS = 50
_MAX_URL_LEN = 4096
_MAX_TEXT = 500

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


def _digits(text: str, most: int) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts "¹", which ``int`` refuses)."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


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


def result_json_text(value: object) -> str | None:
    """The text of a market ``resultJson`` whose result is text (speech-to-text: KIE answers
    ``{"resultObject": {...}}``, see kie-api.md): its ``text``, a plain string object as is,
    another non-empty object as JSON; None when there is no text. Never raises."""
    if isinstance(value, str):
        if not value.strip() or len(value) > MAX_BODY_BYTES:
            return None
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    found = value.get("resultObject") if isinstance(value, Mapping) else None
    if isinstance(found, Mapping) and "text" in found:
        found = found["text"]
    if isinstance(found, Mapping | list) and found:
        try:
            found = json.dumps(found, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            return None
    if not isinstance(found, str) or not found.strip():
        return None
    return found[:MAX_RESULT_TEXT]


def _suno_tracks(tracks: object) -> list[tuple[str, str]]:
    """(audio URL, track id or "") per Suno track that has a URL, URLs unique."""
    found: list[tuple[str, str]] = []
    for track in tracks[:_MAX_URLS] if isinstance(tracks, list) else ():
        if isinstance(track, Mapping):
            url = next((u for k in _SUNO_AUDIO_KEYS for u in http_urls(track.get(k))), None)
            if url is not None and all(url != seen for seen, _ in found):
                found.append((url, task_id_text(track.get("id")) or ""))
    return found


def suno_track_urls(tracks: object) -> tuple[str, ...]:
    """One audio URL per Suno track: the first of its URL fields that holds an http(s) URL."""
    return tuple(url for url, _ in _suno_tracks(tracks))


def suno_track_ids(tracks: object) -> tuple[str, ...]:
    """The ``id`` of each track :func:`suno_track_urls` takes a URL from, in its order (what
    Suno's extend takes as ``audioId``); empty when any is missing (nothing to pair)."""
    ids = tuple(track_id for _, track_id in _suno_tracks(tracks))
    return ids if all(ids) else ()


def market_state(value: object) -> TaskState | None:
    """A market ``state`` string normalised; None if missing or unknown."""
    if not isinstance(value, str):
        return None
    return _MARKET_STATES.get(value.strip().lower())


def code_int(value: object) -> int | None:
    """An envelope ``code`` as int: ints, integral floats and digit strings; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**6 else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and abs(value) < 1e6 \
            else None
    if isinstance(value, str) and _digits(value.strip(), 6):
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


def task_id_text(value: object) -> str | None:
    """A task id as text: a short printable string, or a non-negative int; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 <= value < 10**30 else None
    if isinstance(value, str) and value.strip() and len(value) <= _MAX_ID_LEN \
            and value.isprintable():
        return value
    return None


def find_task_id(doc: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    """The task id at ``data.taskId``, ``data.task_id``, or the top level (Aleph: ``taskId``)."""
    for container, key in ((data, "taskId"), (data, "task_id"), (doc, "taskId"),
                           (doc, "task_id")):
        found = task_id_text(container.get(key))
        if found is not None:
            return found
    return None


def body_code(value: object) -> int | None:
    """A KIE ``code`` or ``successFlag`` as an int: an int, or a short digit string; else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _digits(value.strip(), 6):
        return int(value)
    return None


def nested(value: object, *keys: str) -> object:
    """``value[k1][k2]...`` through mappings only; None when any step is missing."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
