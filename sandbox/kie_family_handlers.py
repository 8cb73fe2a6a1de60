"""Tornado handlers of the families beyond market, Veo and Suno (see ``kie_families``).

Same order of checks as :mod:`sandbox.kie_handlers` (count, injected endpoint error, auth,
rate limit, validation, input URLs, credits, create, injected delay or drop, answer). Endpoint
names for faults and stats: ``<family>.create`` / ``<family>.status`` (``runway.status``
serves runway and runway_extend; Veo's and Suno's status endpoints also report their extend
and 4K tasks) and ``veo_1080p.status`` for ``GET /api/v1/veo/get-1080p-video``.

A follow-up (Veo extend and 4K, Runway extend, Suno extend) continues only a task this KIE
made and finished: a source ``taskId`` (Suno: a track's ``audioId``, ``<task id>-<n>``) it
does not know, of another family, or not (yet) succeeded is refused with KIE's 422 envelope,
before any credit is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sandbox import kie_validate_families as checks
from sandbox.kie_core import EmulatorCore
from sandbox.kie_families import status_group
from sandbox.kie_handlers import CreateHandler, KieHandler, StatusHandler
from sandbox.kie_inputs import refuse_inputs
from sandbox.kie_tasks import SUNO_TRACKS
from sandbox.kie_validate import Refusal

__all__ = ["family_routes"]

_NOT_INPUTS = ("callBackUrl", "prompt", "style", "title", "waterMark", "watermark")

SOURCES = {"veo_extend": ("taskId", "veo"), "veo_4k": ("taskId", "veo"),
           "runway_extend": ("taskId", "runway"), "suno_extend": ("audioId", "suno")}
"""Follow-up family → (the body key naming its source, the source's status group)."""


def source_refusal(core: EmulatorCore, family: str, body: dict[str, Any]) -> Refusal:
    """None when ``family`` is no follow-up or its source is a succeeded task of this KIE."""
    if family not in SOURCES:
        return None
    key, group = SOURCES[family]
    value = str(body.get(key))
    task_id, track = value, "0"
    if group == "suno":  # a track: "<task id>-<n>"
        task_id, _, track = value.rpartition("-")
    with core.lock:
        task = core.tasks.get(task_id)
        known = task is not None and status_group(task.family) == group \
            and track.isdigit() and int(track) < (SUNO_TRACKS if group == "suno" else 1)
        done = known and task is not None and task.state(core.clock()) == "success"
    if not known:
        return 422, f"{key} {value[:80]}: no such {'track' if group == 'suno' else 'task'}"
    if not done:
        return 422, f"{key} {value[:80]}: the source task has not succeeded"
    return None


class FamilyCreateHandler(CreateHandler):
    """A create endpoint whose body holds the user's fields at the top level."""

    check: ClassVar[Callable[[dict[str, Any]], Refusal]]
    default_model: ClassVar[str] = ""
    model_key: ClassVar[str] = "model"

    def refusal(self, body: dict[str, Any]) -> Refusal:
        inputs = {k: v for k, v in body.items() if k not in _NOT_INPUTS}
        return (type(self).check(body) or source_refusal(self.core, self.family, body)
                or refuse_inputs(self.core, inputs, "body"))

    def model_and_prompt(self, body: dict[str, Any]) -> tuple[str, str]:
        model = body.get(self.model_key)
        return (model if isinstance(model, str) and model else self.default_model,
                str(body.get("prompt") or ""))


def _create(family: str, check: Callable[[dict[str, Any]], Refusal], default_model: str,
            model_key: str = "model") -> type[FamilyCreateHandler]:
    return type(f"{family.title().replace('_', '')}CreateHandler", (FamilyCreateHandler,), {
        "endpoint": f"{family}.create", "family": family, "check": staticmethod(check),
        "default_model": default_model, "model_key": model_key})


def _status(family: str) -> type[StatusHandler]:
    return type(f"{family.title().replace('_', '')}StatusHandler", (StatusHandler,), {
        "endpoint": f"{family}.status", "family": family})


class Veo1080pHandler(KieHandler):
    """``GET /api/v1/veo/get-1080p-video?taskId=&index=``: the 1080p URL once it is ready.

    Ready one task duration (``veo3_1080p``'s, else the global one) after the source Veo task
    succeeded; before that, and for a failed source, KIE answers a non-200 code (here 422
    "not ready" / 404 unknown task). A ``[fail]`` source never gets a 1080p file.
    """

    endpoint = "veo_1080p.status"

    async def get(self) -> None:
        core = self.core
        core.count_call(self.endpoint)
        task_id = self.get_query_argument("taskId", "") or ""
        rule = core.endpoint_fault(self.endpoint, None)
        if rule is not None and rule.kind == "error":
            self.answer_fault(rule)
            return
        if self.refuse_auth_or_limit("status"):
            return
        if not task_id:
            self.envelope(400, 400, "taskId is required")
            return
        task = core.lookup(task_id, "veo")
        if task is None:
            self.envelope(404, 404, "task not found")
            return
        with core.lock:
            now = core.clock()
            ready_at = task.created_mono + max(task.duration, 0.0) \
                + core.config.duration_for("veo3_1080p")
            state = task.state(now)
            url = f"{core.media_base()}/media/{task.task_id}/0.mp4"
        if await self.after_work(rule):
            return
        if state == "fail":
            self.envelope(422, 422, "the source video failed: no 1080P version")
        elif state != "success" or now < ready_at:
            self.envelope(422, 422, "1080P is processing. Please check back shortly.")
        else:
            self.envelope(200, 200, "success", {"resultUrl": url})


def family_routes(kwargs: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """The routes of every family this module serves."""
    return [
        (r"/api/v1/runway/generate", _create("runway", checks.validate_runway, "runway-gen3"),
         kwargs),
        (r"/api/v1/runway/extend", _create("runway_extend", checks.validate_runway_extend,
                                           "runway-extend"), kwargs),
        (r"/api/v1/runway/record-detail", _status("runway"), kwargs),
        (r"/api/v1/aleph/generate", _create("runway_aleph", checks.validate_aleph,
                                            "runway-aleph"), kwargs),
        (r"/api/v1/aleph/record-info", _status("runway_aleph"), kwargs),
        (r"/api/v1/mj/generate", _create("midjourney", checks.validate_midjourney,
                                         "mj_txt2img", "taskType"), kwargs),
        (r"/api/v1/mj/record-info", _status("midjourney"), kwargs),
        (r"/api/v1/gpt4o-image/generate", _create("gpt4o_image", checks.validate_gpt4o_image,
                                                  "gpt4o-image"), kwargs),
        (r"/api/v1/gpt4o-image/record-info", _status("gpt4o_image"), kwargs),
        (r"/api/v1/flux/kontext/generate", _create("flux_kontext",
                                                   checks.validate_flux_kontext,
                                                   "flux-kontext-pro"), kwargs),
        (r"/api/v1/flux/kontext/record-info", _status("flux_kontext"), kwargs),
        (r"/api/v1/veo/extend", _create("veo_extend", checks.validate_veo_extend,
                                        "veo3-extend"), kwargs),
        (r"/api/v1/veo/get-4k-video", _create("veo_4k", checks.validate_veo_4k, "veo3-4k"),
         kwargs),
        (r"/api/v1/veo/get-1080p-video", Veo1080pHandler, kwargs),
        (r"/api/v1/generate/extend", _create("suno_extend", checks.validate_suno_extend,
                                             "V4_5PLUS"), kwargs),
    ]
