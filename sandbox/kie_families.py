"""Status records and callback bodies of the KIE families beyond market, Veo and Suno.

Shapes follow KIE's pages (docs.kie.ai: Runway, Runway Aleph, Midjourney, 4o Image, Flux
Kontext, Veo 3.1 extend / 4K / 1080P, Suno extend). A task's progress is the clock's, as in
:mod:`sandbox.kie_tasks`; its outcome (success, fail, stuck) is decided at creation.

* runway, runway_extend: ``record-detail`` ``state`` wait / queueing / generating / success /
  fail, ``videoInfo{videoId, taskId, videoUrl, imageUrl}``; callback ``data{task_id, video_id,
  video_url, image_url}`` (snake case).
* runway_aleph: ``record-info`` ``successFlag`` 0/1/2/3, ``response{resultVideoUrl,
  resultImageUrl}``; callback ``{code, msg, data{result_video_url, result_image_url},
  taskId}`` (task id at the top level; ``data: null`` on failure).
* midjourney: ``record-info`` ``successFlag``, ``resultInfoJson.resultUrls[{resultUrl}]``
  (4 images; one video for ``mj_video``); callback ``data{taskId, promptJson, resultUrls[]}``.
* gpt4o_image: ``record-info`` ``status`` GENERATING / SUCCESS / GENERATE_FAILED,
  ``successFlag`` 0/1/2, ``progress`` "0.00".."1.00", ``response.resultUrls``; callback
  ``data{taskId, info{result_urls}}``.
* flux_kontext: ``record-info`` ``successFlag``, ``response{originImageUrl, resultImageUrl}``;
  callback ``data{taskId, info{originImageUrl, resultImageUrl}}``. ``originImageUrl`` points
  at a file that does not exist here (KIE keeps it 10 minutes): only the result is usable.
* veo_extend, veo_4k: Veo's record and callback (4K: ``info{resultUrls, imageUrls}``).
* suno_extend: Suno's record and three-stage callbacks.

Only Suno (and its extend) send intermediate callbacks; every other family calls back once,
when the task ends.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox import kie_tasks
from sandbox.kie_tasks import Task

__all__ = ["STATUS_GROUP", "callback_body", "record_data", "status_group"]

STATUS_GROUP = {"veo_extend": "veo", "veo_4k": "veo", "suno_extend": "suno",
                "runway_extend": "runway"}
"""Families whose tasks another family's status endpoint reports."""

_RUNWAY_STATE = {"waiting": "wait", "queuing": "queueing"}


def status_group(family: str) -> str:
    """The family whose status endpoint reports tasks of ``family``."""
    return STATUS_GROUP.get(family, family)


def _fail_code(task: Task, default: int = 500) -> int:
    try:
        return int(task.fail_code)
    except ValueError:
        return default


def _flag(task: Task, now: float) -> int:
    state = task.state(now)
    if state == "success":
        return 1
    if state == "fail":
        return 2 if task.fail_code.startswith("4") else 3
    return 0


def _times(task: Task, done: bool) -> dict[str, Any]:
    return {"createTime": kie_tasks.datetime_text(task.created_wall),
            "completeTime": kie_tasks.datetime_text(task.complete_wall()) if done else None}


def _runway_data(task: Task, now: float, base: str) -> dict[str, Any]:
    state = task.state(now)
    urls = task.result_urls(base)
    return {
        "taskId": task.task_id, "parentTaskId": str(task.request.get("taskId") or ""),
        "generateParam": {"prompt": task.prompt,
                          "imageUrl": str(task.request.get("imageUrl") or ""),
                          "expandPrompt": True},
        "state": _RUNWAY_STATE.get(state, state),
        "generateTime": kie_tasks.datetime_text(task.created_wall),
        "videoInfo": {"videoId": f"{task.task_id}-v", "taskId": task.task_id,
                      "videoUrl": urls[0], "imageUrl": f"{base}/media/{task.task_id}/img0.png"}
        if state == "success" else None,
        "failCode": _fail_code(task) if state == "fail" else None,
        "failMsg": task.fail_msg if state == "fail" else "",
        "expireFlag": 0,
    }


def _flag_data(task: Task, now: float, response: dict[str, Any] | None) -> dict[str, Any]:
    flag = _flag(task, now)
    return {"taskId": task.task_id, "paramJson": json.dumps(task.request),
            **_times(task, flag != 0), "response": response if flag == 1 else None,
            "successFlag": flag, "errorCode": _fail_code(task) if flag > 1 else None,
            "errorMessage": task.fail_msg if flag > 1 else ""}


def _progress(task: Task, now: float) -> str:
    return f"{min(max(task.progress(now), 0.0), 1.0):.2f}"


def record_data(task: Task, now: float, base: str) -> dict[str, Any]:
    """The status endpoint's ``data`` for any family's task."""
    family, urls = task.family, task.result_urls(base)
    if family in ("runway", "runway_extend"):
        return _runway_data(task, now, base)
    if family == "runway_aleph":
        return _flag_data(task, now, {"taskId": task.task_id, "resultVideoUrl": urls[0],
                                      "resultImageUrl": f"{base}/media/{task.task_id}/img0.png"})
    if family == "midjourney":
        data = _flag_data(task, now, None)
        data.pop("response")
        data["taskType"] = task.model
        data["resultInfoJson"] = {"resultUrls": [{"resultUrl": u} for u in urls]} \
            if data["successFlag"] == 1 else None
        return data
    if family == "gpt4o_image":
        data = _flag_data(task, now, {"resultUrls": urls})
        flag = data["successFlag"] = min(data["successFlag"], 2)
        data["status"] = ("GENERATING", "SUCCESS", "GENERATE_FAILED")[flag]
        data["progress"] = _progress(task, now) if flag == 0 else "1.00"
        return data
    if family == "flux_kontext":
        return _flag_data(task, now, {"originImageUrl": f"{base}/media/{task.task_id}/origin",
                                      "resultImageUrl": urls[0]})
    return kie_tasks.record_data(task, now, base)


def callback_body(task: Task, kind: str, now: float, base: str, msg_key: str) -> dict[str, Any]:
    """The JSON body KIE POSTs for callback ``kind`` (success/fail; Suno: text/first/...)."""
    family, urls, ok = task.family, task.result_urls(base), kind == "success"
    code = 200 if ok else _fail_code(task)
    msg = {msg_key: "success" if ok else task.fail_msg or "internal error"}
    image = f"{base}/media/{task.task_id}/img0.png"
    if family in ("runway", "runway_extend"):
        return {"code": code, **msg,
                "data": {"task_id": task.task_id, "video_id": f"{task.task_id}-v" if ok else "",
                         "video_url": urls[0] if ok else "", "image_url": image if ok else ""}}
    if family == "runway_aleph":
        return {"code": code, **msg, "taskId": task.task_id,
                "data": {"result_video_url": urls[0], "result_image_url": image} if ok else None}
    if family == "midjourney":
        return {"code": code, **msg,
                "data": {"taskId": task.task_id, "promptJson": json.dumps(task.request),
                         "resultUrls": urls if ok else []}}
    if family == "gpt4o_image":
        return {"code": code, **msg,
                "data": {"taskId": task.task_id, "info": {"result_urls": urls} if ok else None}}
    if family == "flux_kontext":
        info = {"originImageUrl": f"{base}/media/{task.task_id}/origin", "resultImageUrl": urls[0]}
        return {"code": code, **msg, "data": {"taskId": task.task_id, "info": info if ok else None}}
    if family == "veo_4k" and ok:
        body = kie_tasks.callback_body(task, kind, now, base, msg_key)
        body["data"]["info"] = {"resultUrls": urls, "imageUrls": [image]}
        return body
    return kie_tasks.callback_body(task, kind, now, base, msg_key)
