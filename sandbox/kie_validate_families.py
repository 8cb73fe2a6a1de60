"""Request validation of the families beyond market, Veo and Suno, the way KIE does it.

Same contract as :mod:`sandbox.kie_validate`: ``None`` when acceptable, else ``(422, message)``.
Only what KIE's pages state is checked (required fields, enums, documented limits).
"""

from __future__ import annotations

from typing import Any

from sandbox.kie_validate import Refusal, _check_callback, _is_url

# docs.kie.ai/runway-api/generate-ai-video: 5 or 10 s; 720p or 1080p; 1080p only at 5 s
_RUNWAY_DURATIONS = (5, 10)
_RUNWAY_QUALITY = ("720p", "1080p")
_RUNWAY_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16")
# docs.kie.ai/mj-api/generate-mj-image
_MJ_TASK_TYPES = ("mj_txt2img", "mj_img2img", "mj_style_reference", "mj_omni_reference",
                  "mj_video", "mj_video_hd")
_MJ_NEEDS_IMAGE = ("mj_img2img", "mj_style_reference", "mj_omni_reference", "mj_video",
                   "mj_video_hd")
_MJ_SPEEDS = ("relaxed", "fast", "turbo")
_MJ_PROMPT = 2000
# docs.kie.ai/4o-image-api/generate-4-o-image
_GPT4O_SIZES = ("1:1", "3:2", "2:3")
_GPT4O_VARIANTS = (1, 2, 4)
# docs.kie.ai/flux-kontext-api/generate-or-edit-image
_FLUX_MODELS = ("flux-kontext-pro", "flux-kontext-max")
_FLUX_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16", "16:21")


def _text(body: dict[str, Any], name: str) -> Refusal:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        return 422, f"{name} is required"
    return None


def _url_list(body: dict[str, Any], name: str) -> Refusal:
    value = body.get(name)
    if value is not None and (not isinstance(value, list) or not all(_is_url(u) for u in value)):
        return 422, f"{name} must be a list of URLs"
    return None


def _enum(body: dict[str, Any], name: str, allowed: tuple[Any, ...]) -> Refusal:
    if name in body and body[name] not in allowed:
        return 422, f"{name} must be one of {', '.join(map(str, allowed))}"
    return None


def validate_runway(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/runway/generate`` (callBackUrl required)."""
    refusal = (_check_callback(body, required=True) or _text(body, "prompt")
               or _enum(body, "duration", _RUNWAY_DURATIONS)
               or _enum(body, "quality", _RUNWAY_QUALITY)
               or _enum(body, "aspectRatio", _RUNWAY_RATIOS))
    if refusal:
        return refusal
    if body.get("imageUrl") not in (None, "") and not _is_url(body["imageUrl"]):
        return 422, "imageUrl must be a URL"
    if body.get("quality") == "1080p" and body.get("duration") == 10:
        return 422, "1080p is only available for 5-second videos"
    return None


def validate_runway_extend(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/runway/extend``: the source ``taskId`` and a prompt."""
    return (_check_callback(body, required=True) or _text(body, "taskId")
            or _text(body, "prompt") or _enum(body, "quality", _RUNWAY_QUALITY))


def validate_aleph(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/aleph/generate``: a prompt and the ``videoUrl`` to transform."""
    refusal = _text(body, "prompt") or _check_callback(body, required=False)
    if refusal:
        return refusal
    if not _is_url(body.get("videoUrl")):
        return 422, "videoUrl is required"
    return None


def validate_midjourney(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/mj/generate``."""
    task_type = body.get("taskType")
    if task_type not in _MJ_TASK_TYPES:
        return 422, f"taskType must be one of {', '.join(_MJ_TASK_TYPES)}"
    refusal = (_text(body, "prompt") or _url_list(body, "fileUrls")
               or _enum(body, "speed", _MJ_SPEEDS) or _check_callback(body, required=False))
    if refusal:
        return refusal
    if len(body["prompt"]) > _MJ_PROMPT:
        return 422, f"prompt must be at most {_MJ_PROMPT} characters"
    if task_type in _MJ_NEEDS_IMAGE and not (body.get("fileUrls") or body.get("fileUrl")):
        return 422, f"fileUrls is required for {task_type}"
    return None


def validate_gpt4o_image(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/gpt4o-image/generate``: a prompt or images, ``size`` required."""
    refusal = (_url_list(body, "filesUrl") or _check_callback(body, required=False)
               or _enum(body, "nVariants", _GPT4O_VARIANTS))
    if refusal:
        return refusal
    if body.get("size") not in _GPT4O_SIZES:
        return 422, f"size must be one of {', '.join(_GPT4O_SIZES)}"
    if _text(body, "prompt") and not body.get("filesUrl"):
        return 422, "prompt or filesUrl is required"
    return None


def validate_flux_kontext(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/flux/kontext/generate``."""
    refusal = (_text(body, "prompt") or _enum(body, "model", _FLUX_MODELS)
               or _enum(body, "aspectRatio", _FLUX_RATIOS)
               or _check_callback(body, required=False))
    if refusal:
        return refusal
    if body.get("inputImage") not in (None, "") and not _is_url(body["inputImage"]):
        return 422, "inputImage must be a URL"
    return None


def validate_veo_extend(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/veo/extend``: the source ``taskId`` and a prompt."""
    return (_text(body, "taskId") or _text(body, "prompt")
            or _enum(body, "model", ("fast", "quality")) or _check_callback(body, required=False))


def validate_veo_4k(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/veo/get-4k-video``: the source ``taskId`` (and ``index``)."""
    refusal = _text(body, "taskId") or _check_callback(body, required=False)
    if refusal:
        return refusal
    if not isinstance(body.get("index", 0), int) or isinstance(body.get("index"), bool):
        return 422, "index must be an integer"
    return None


def validate_suno_extend(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/generate/extend``: with ``defaultParamFlag`` true, prompt, style, title
    and continueAt are required (limits 3000 / 200 / 80); else only ``audioId``."""
    refusal = _check_callback(body, required=True) or _text(body, "audioId") \
        or _text(body, "model")
    if refusal:
        return refusal
    if not isinstance(body.get("defaultParamFlag"), bool):
        return 422, "defaultParamFlag is required and must be a boolean"
    if not body["defaultParamFlag"]:
        return None
    for name, most in (("prompt", 3000), ("style", 200), ("title", 80)):
        refusal = _text(body, name)
        if refusal:
            return refusal
        if len(body[name]) > most:
            return 422, f"{name} must be at most {most} characters"
    at = body.get("continueAt")
    if isinstance(at, bool) or not isinstance(at, int | float) or at <= 0:
        return 422, "continueAt must be a number of seconds above 0"
    return None
