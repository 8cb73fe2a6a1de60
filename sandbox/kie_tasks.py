"""Emulated KIE tasks: their progress on a clock, status records and callback bodies.

A task's state is computed from the elapsed time on the emulator's clock, never stored, so
polling and callbacks always agree. With progress ``p = elapsed / duration``:

* market (and the generic ``state`` in stats): ``waiting`` p < 0.1, ``queuing`` p < 0.3,
  ``generating`` p < 1, then ``success`` or ``fail``.
* Veo ``successFlag``: 0 until p >= 1, then 1 (success), 2 (fail code 4xx) or 3 (other fail).
* Suno ``status``: ``PENDING`` p < 0.4, ``TEXT_SUCCESS`` p < 0.7, ``FIRST_SUCCESS`` p < 1,
  then ``SUCCESS``; a failing task stays ``PENDING`` then ends ``SENSITIVE_WORD_ERROR`` (fail
  code 400) or ``GENERATE_AUDIO_FAILED``.

A ``stuck`` task never reaches p = 1. Shapes follow /work/shared/kie-api.md and KIE's pages;
Veo extend / 4K and Suno extend share Veo's and Suno's shapes; the other families are in
:mod:`sandbox.kie_families`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

SUNO_TRACKS = 2
SUNO_FAMILIES = ("suno", "suno_extend")
"""Families with Suno's record and three-stage callbacks."""
VEO_FAMILIES = ("veo", "veo_extend", "veo_4k")
"""Families with Veo's record and callback."""
_SUNO_TEXT_AT, _SUNO_FIRST_AT = 0.4, 0.7
_MSG = {
    "success": "Playground task completed successfully.",
    "veo_success": "Veo3 video generated successfully.",
    "text": "Text generation completed successfully.",
    "first": "First track generation completed.",
    "complete": "All generated successfully.",
}


@dataclasses.dataclass
class Task:
    """One emulated task; ``outcome`` is decided at creation (success, fail or stuck)."""

    task_id: str
    family: str
    model: str
    request: dict[str, Any]
    prompt: str
    callback_url: str | None
    created_mono: float
    created_wall: float
    duration: float
    outcome: str = "success"
    fail_code: str = ""
    fail_msg: str = ""
    ext: str = "png"
    n_results: int = 1
    pad_bytes: int = 0
    out_of_order: bool = False
    early: bool = False
    epoch: int = 0
    polls: int = 0

    def progress(self, now: float) -> float:
        """Elapsed fraction of the duration (inf for zero duration; < 1 forever if stuck)."""
        p = math.inf if self.duration <= 0 else (now - self.created_mono) / self.duration
        return min(p, 0.99) if self.outcome == "stuck" else p

    def state(self, now: float) -> str:
        """The market-vocabulary state: waiting, queuing, generating, success or fail."""
        p = self.progress(now)
        if p >= 1:
            return "fail" if self.outcome == "fail" else "success"
        return "waiting" if p < 0.1 else "queuing" if p < 0.3 else "generating"

    def suno_status(self, now: float) -> str:
        """Suno's ``status`` string at ``now``."""
        p = self.progress(now)
        if self.outcome == "fail":
            if p < 1:
                return "PENDING"
            return "SENSITIVE_WORD_ERROR" if self.fail_code == "400" else "GENERATE_AUDIO_FAILED"
        if p < _SUNO_TEXT_AT:
            return "PENDING"
        if p < _SUNO_FIRST_AT:
            return "TEXT_SUCCESS"
        return "FIRST_SUCCESS" if p < 1 else "SUCCESS"

    def wall_ms(self, now: float) -> int:
        """Unix ms corresponding to clock reading ``now``."""
        return int((self.created_wall + (now - self.created_mono)) * 1000)

    def complete_wall(self) -> float:
        """Unix seconds at which the task ends (meaningless for stuck tasks)."""
        return self.created_wall + max(self.duration, 0.0)

    def result_urls(self, base: str) -> list[str]:
        """Media URLs of a market/Veo result."""
        return [f"{base}/media/{self.task_id}/{n}.{self.ext}" for n in range(self.n_results)]

    def callback_plan(self) -> list[tuple[float, tuple[str, ...]]]:
        """(seconds after creation, callback kinds sent together in order) for this task."""
        d = max(self.duration, 0.0)
        if self.outcome == "stuck":
            return []
        if self.family in SUNO_FAMILIES:
            if self.outcome == "fail":
                return [(d, ("error",))]
            if self.out_of_order:
                return [(d, ("complete", "first", "text"))]
            return [(_SUNO_TEXT_AT * d, ("text",)), (_SUNO_FIRST_AT * d, ("first",)),
                    (d, ("complete",))]
        if self.outcome == "fail":
            return [(d, ("fail",))]
        return [(d, ("success", "fail") if self.out_of_order else ("success",))]


def datetime_text(wall: float) -> str:
    """KIE's ``"YYYY-MM-DD HH:MM:SS"`` (UTC) for Unix seconds ``wall``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(wall))


def _fail_code_int(task: Task, default: int) -> int:
    try:
        return int(task.fail_code)
    except ValueError:
        return default


def text_result(task: Task) -> dict[str, Any]:
    """A text result, the way KIE answers one (``resultJson: {"resultObject": {...}}``, see
    kie-api.md; the object is ElevenLabs' transcript: text, language, words)."""
    text = f"Transcript of task {task.task_id}: hello from the KIE emulator."
    words = [{"text": w, "start": i * 0.4, "end": i * 0.4 + 0.3, "type": "word"}
             for i, w in enumerate(text.split())]
    return {"language_code": "en", "language_probability": 0.99, "text": text, "words": words}


def market_data(task: Task, now: float, base: str, *, force: str | None = None) -> dict[str, Any]:
    """``data`` of recordInfo (and of a market callback); ``force`` overrides the state."""
    state = force or task.state(now)
    terminal = state in ("success", "fail")
    complete_ms = int(task.complete_wall() * 1000) if terminal else None
    result_json: str | None = ""
    if state == "success" and task.ext == "txt":
        result_json = json.dumps({"resultObject": text_result(task)})
    elif state == "success":
        result_json = json.dumps({"resultUrls": task.result_urls(base)})
    elif state == "fail":
        result_json = None if force else ""
    return {
        "taskId": task.task_id,
        "model": task.model,
        "state": state,
        "param": json.dumps(task.request),
        "resultJson": result_json,
        "failCode": (task.fail_code or "500") if state == "fail" else "",
        "failMsg": (task.fail_msg or "internal error") if state == "fail" else "",
        "costTime": int(max(task.duration, 0.0) * 1000) if terminal else None,
        "completeTime": complete_ms,
        "createTime": int(task.created_wall * 1000),
        "updateTime": complete_ms if complete_ms is not None else task.wall_ms(now),
    }


def veo_data(task: Task, now: float, base: str) -> dict[str, Any]:
    """``data`` of Veo's record-info."""
    state = task.state(now)
    flag = 0
    if state == "success":
        flag = 1
    elif state == "fail":
        flag = 2 if task.fail_code.startswith("4") else 3
    urls = task.result_urls(base) if flag == 1 else []
    return {
        "taskId": task.task_id,
        "paramJson": json.dumps(task.request),
        "completeTime": datetime_text(task.complete_wall()) if flag else None,
        "response": {"taskId": task.task_id, "resultUrls": urls, "originUrls": urls,
                     "resolution": "1080p"} if flag == 1 else None,
        "successFlag": flag,
        "errorCode": _fail_code_int(task, 500) if flag > 1 else None,
        "errorMessage": task.fail_msg if flag > 1 else "",
        "createTime": datetime_text(task.created_wall),
        "fallbackFlag": False,
    }


def _suno_tracks(task: Task, ready: int, base: str, *, snake: bool) -> list[dict[str, Any]]:
    """Both tracks; the first ``ready`` have an audio URL, the rest an empty one."""
    tracks = []
    for n in range(SUNO_TRACKS):
        audio = f"{base}/media/{task.task_id}/{n}.mp3" if n < ready else ""
        stream = f"{base}/media/{task.task_id}/s{n}.mp3"
        image = f"{base}/media/{task.task_id}/img{n}.png"
        title = str(task.request.get("title") or "Emulated song")
        common = {"id": f"{task.task_id}-{n}", "prompt": task.prompt, "title": title,
                  "tags": str(task.request.get("style") or ""),
                  "createTime": datetime_text(task.created_wall), "duration": 1.0 if audio else 0}
        if snake:
            tracks.append({**common, "audio_url": audio, "source_audio_url": audio,
                           "stream_audio_url": stream, "source_stream_audio_url": stream,
                           "image_url": image, "source_image_url": image,
                           "model_name": "chirp-v4-5"})
        else:
            tracks.append({**common, "audioUrl": audio, "streamAudioUrl": stream,
                           "imageUrl": image, "modelName": "chirp-v4-5"})
    return tracks


def suno_data(task: Task, now: float, base: str) -> dict[str, Any]:
    """``data`` of Suno's record-info."""
    status = task.suno_status(now)
    ready = {"SUCCESS": 2, "FIRST_SUCCESS": 1}.get(status, 0)
    tracks = [] if status == "PENDING" or status.endswith(("FAILED", "ERROR")) else \
        _suno_tracks(task, ready, base, snake=False)
    failed = status in ("SENSITIVE_WORD_ERROR", "GENERATE_AUDIO_FAILED")
    return {
        "taskId": task.task_id,
        "parentMusicId": "",
        "param": json.dumps(task.request),
        "response": {"taskId": task.task_id, "sunoData": tracks},
        "status": status,
        "type": "GENERATE",
        "operationType": "generate",
        "errorCode": _fail_code_int(task, 501) if failed else None,
        "errorMessage": task.fail_msg if failed else None,
    }


def record_data(task: Task, now: float, base: str) -> dict[str, Any]:
    """The status endpoint's ``data`` for the task's family."""
    if task.family in VEO_FAMILIES:
        return veo_data(task, now, base)
    if task.family in SUNO_FAMILIES:
        return suno_data(task, now, base)
    return market_data(task, now, base)


def callback_body(task: Task, kind: str, now: float, base: str, msg_key: str) -> dict[str, Any]:
    """The JSON body KIE POSTs for callback ``kind`` (success/fail; text/first/complete/error)."""
    fail_code = _fail_code_int(task, 501) if task.outcome == "fail" else 501
    if task.family in SUNO_FAMILIES:
        if kind == "error":
            data: Any = {"callbackType": "error", "task_id": task.task_id, "data": None}
            return {"code": fail_code, msg_key: task.fail_msg or "generation failed", "data": data}
        ready = {"text": 0, "first": 1, "complete": 2}[kind]
        data = {"callbackType": kind, "task_id": task.task_id,
                "data": _suno_tracks(task, ready, base, snake=True)}
        return {"code": 200, msg_key: _MSG[kind], "data": data}
    if task.family in VEO_FAMILIES:
        if kind == "success":
            urls = task.result_urls(base)
            info = {"resultUrls": urls, "originUrls": urls, "resolution": "1080p"}
            return {"code": 200, msg_key: _MSG["veo_success"],
                    "data": {"taskId": task.task_id, "info": info, "fallbackFlag": False}}
        return {"code": fail_code, msg_key: task.fail_msg or "internal error",
                "data": {"taskId": task.task_id, "info": None, "fallbackFlag": False}}
    if kind == "success":
        return {"code": 200, msg_key: _MSG["success"],
                "data": market_data(task, now, base, force="success")}
    return {"code": 501, msg_key: task.fail_msg or "internal error",
            "data": market_data(task, now, base, force="fail")}
