"""Every KIE family the catalog uses, in one place: paths, request body, status and callback shape.

A catalog model names its ``family``; the job hands it to :meth:`KieClient.create_task` and the
poller to :meth:`KieClient.get_task`. Paths and fields are KIE's (docs.kie.ai, each family's
"Generate ..." / "Get ... Details" / "... Callbacks" pages):

Family → create (POST) / status (GET) / callback shape:

* market: /api/v1/jobs/createTask / /api/v1/jobs/recordInfo / market
* veo: /api/v1/veo/generate / /api/v1/veo/record-info / veo
* veo_extend: /api/v1/veo/extend {taskId, prompt} / veo record-info / veo
* veo_4k: /api/v1/veo/get-4k-video {taskId, index} / veo record-info / veo (``info.resultUrls``,
  ``info.imageUrls``)
* veo_1080p: no create (see below) / /api/v1/veo/get-1080p-video?taskId=&index= / none
* suno: /api/v1/generate / /api/v1/generate/record-info / suno
* suno_extend: /api/v1/generate/extend {audioId, defaultParamFlag, continueAt, ...} / suno
  record-info / suno
* runway: /api/v1/runway/generate / /api/v1/runway/record-detail / runway
* runway_extend: /api/v1/runway/extend {taskId, prompt, quality} / runway record-detail / runway
* runway_aleph: /api/v1/aleph/generate {prompt, videoUrl} / /api/v1/aleph/record-info / aleph
* midjourney: /api/v1/mj/generate {taskType, prompt, ...} / /api/v1/mj/record-info / midjourney
* gpt4o_image: /api/v1/gpt4o-image/generate / /api/v1/gpt4o-image/record-info / gpt4o_image
* flux_kontext: /api/v1/flux/kontext/generate / /api/v1/flux/kontext/record-info / flux_kontext

Request bodies (:func:`build_body`): market nests the user's fields under ``input`` with
``model``; the others send them at the top level. ``model`` is sent where KIE takes it (veo,
suno, flux_kontext: the catalog id is KIE's model name; suno_extend: the id without its
``-extend`` suffix, which must be the source track's model; veo_extend: ``fast`` when the id
names the fast model, else ``quality``); Midjourney's catalog id is its ``taskType``
(``mj_txt2img``, ``mj_img2img``, ``mj_video``, ...); Runway, Aleph, 4o image and the 4K
upgrade take no model. System fields always win over same-named input keys.

Suno, Suno extend, Runway and Runway extend *require* ``callBackUrl``: without a public URL
the node sends :data:`PLACEHOLDER_CALLBACK` and the poller observes the task.

Follow-up families (``veo_extend``, ``veo_4k``, ``veo_1080p``, ``runway_extend``,
``suno_extend``) take the source KIE task id (``taskId``; Suno: the track's ``audioId``, each
track's ``id``, kept as ``TaskReport.result_ids``) as a field, which a catalog entry's
``follows`` fills from the source job (trt_actors/catalog/follows.py). ``veo_4k``'s create
answers with the *source* task id (docs.kie.ai example), which the source's own job
already holds: the client names the 4K task ``"<taskId>#4k"`` and asks record-info about
``<taskId>``; KIE's 4K callback still says ``taskId: <taskId>``, which the
callback inbox then records against the source's job, so the 4K job is settled by the poll.
``veo_1080p`` is not a task at KIE: ``GET get-1080p-video`` answers the 1080p URL once ready
(a non-200 code before). Its create makes no call and returns ``"<taskId>#<index>"``; each
status query asks get-1080p-video, and a "not ready" answer is a poll error (the poller
retries; the janitor bounds the wait).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FAMILIES", "PLACEHOLDER_CALLBACK", "FamilyApi", "build_body", "split_1080p_id"]

PLACEHOLDER_CALLBACK = "https://example.invalid/kie-callback"
"""Sent as the (required) ``callBackUrl`` of Suno and Runway when the node has none: ``.invalid``
never resolves (RFC 2606), so KIE's callback goes nowhere and the status poller finds the
result."""


@dataclass(frozen=True, slots=True)
class FamilyApi:
    """How the client speaks one KIE family."""

    create_path: str | None
    """POST path of the create call; None: no create call (``veo_1080p``)."""
    status_path: str
    status_shape: str
    """Key of :data:`gateways.kie.reports.REPORTS`."""
    callback_shape: str | None
    """Key of :data:`gateways.kie.callback_shapes.SHAPES`; None: KIE never calls back."""
    model_field: str | None = "model"
    """Where the catalog id goes in the body (None: nowhere)."""
    callback_required: bool = False


FAMILIES: dict[str, FamilyApi] = {
    "market": FamilyApi("/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo", "market", "market"),
    "veo": FamilyApi("/api/v1/veo/generate", "/api/v1/veo/record-info", "veo", "veo"),
    "veo_extend": FamilyApi("/api/v1/veo/extend", "/api/v1/veo/record-info", "veo", "veo"),
    "veo_4k": FamilyApi("/api/v1/veo/get-4k-video", "/api/v1/veo/record-info", "veo", "veo",
                     model_field=None),
    "veo_1080p": FamilyApi(None, "/api/v1/veo/get-1080p-video", "veo_1080p", None,
                        model_field=None),
    "suno": FamilyApi("/api/v1/generate", "/api/v1/generate/record-info", "suno", "suno",
                   callback_required=True),
    "suno_extend": FamilyApi("/api/v1/generate/extend", "/api/v1/generate/record-info", "suno",
                          "suno", callback_required=True),
    "runway": FamilyApi("/api/v1/runway/generate", "/api/v1/runway/record-detail", "runway",
                     "runway", model_field=None, callback_required=True),
    "runway_extend": FamilyApi("/api/v1/runway/extend", "/api/v1/runway/record-detail", "runway",
                            "runway", model_field=None, callback_required=True),
    "runway_aleph": FamilyApi("/api/v1/aleph/generate", "/api/v1/aleph/record-info", "aleph",
                           "aleph", model_field=None),
    "midjourney": FamilyApi("/api/v1/mj/generate", "/api/v1/mj/record-info", "midjourney",
                         "midjourney", model_field="taskType"),
    "gpt4o_image": FamilyApi("/api/v1/gpt4o-image/generate", "/api/v1/gpt4o-image/record-info",
                          "gpt4o_image", "gpt4o_image", model_field=None),
    "flux_kontext": FamilyApi("/api/v1/flux/kontext/generate", "/api/v1/flux/kontext/record-info",
                           "flux_kontext", "flux_kontext"),
}
"""Family name (the catalog's ``family``) → how to speak it."""


def build_body(family: str, model_id: str, input: Mapping[str, Any],
               callback_url: str | None) -> dict[str, Any]:
    """The create request's JSON body (``callBackUrl`` only when ``callback_url`` is set)."""
    spec = FAMILIES[family]
    body: dict[str, Any]
    if family == "market":
        body = {"model": model_id, "input": dict(input)}
    else:
        body = dict(input)
        if spec.model_field is not None:
            body[spec.model_field] = model_id
        if family == "veo_extend":  # KIE's extend takes the speed, not the model id
            body["model"] = "fast" if "fast" in model_id else "quality"
        elif family == "suno_extend":  # the source track's model: "V5-extend" -> "V5"
            body["model"] = model_id.removesuffix("-extend")
    body.pop("callBackUrl", None)
    if callback_url is not None:
        body["callBackUrl"] = callback_url
    return body


def split_1080p_id(task_id: str) -> tuple[str, str]:
    """``"<taskId>#<index>"`` → (source task id, index); index "0" when absent."""
    source, _, index = task_id.rpartition("#")
    if not source:
        return task_id, "0"
    return source, index if index.isascii() and index.isdigit() else "0"
