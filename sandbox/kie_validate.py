"""Request validation the way KIE does it: a refused request gets body code 422 and a message.

Each function takes the decoded JSON body and returns ``None`` when acceptable, or a
``(code, message)`` pair. Only basics are checked (required fields, types, enums the contract
names); the emulator is not the catalog.
"""

from __future__ import annotations

from typing import Any

Refusal = tuple[int, str] | None

# Input fields that can carry a market model's main input (prompt, text or an image URL).
_MAIN_INPUTS = ("prompt", "text", "image", "image_url", "image_urls", "input_urls", "image_input")
_VEO_MODELS = ("veo3", "veo3_fast")
_VEO_RATIOS = ("16:9", "9:16", "Auto")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _check_callback(body: dict[str, Any], *, required: bool) -> Refusal:
    url = body.get("callBackUrl")
    if url is None or url == "":
        return (422, "callBackUrl is required") if required else None
    if not _is_url(url):
        return 422, "callBackUrl must be an http(s) URL"
    return None


def validate_market(body: dict[str, Any], known_models: list[str] | None) -> Refusal:
    """``POST /api/v1/jobs/createTask``."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        return 422, "model is required"
    if known_models is not None and model not in known_models:
        return 422, f"model {model} is not supported"
    data = body.get("input")
    if not isinstance(data, dict) or not data:
        return 422, "input is required"
    if "prompt" in data and (not isinstance(data["prompt"], str) or not data["prompt"].strip()):
        return 422, "prompt is required"
    if not any(data.get(name) for name in _MAIN_INPUTS):
        return 422, "prompt is required"
    return _check_callback(body, required=False)


def validate_veo(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/veo/generate``."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return 422, "prompt is required"
    if body.get("model", "veo3_fast") not in _VEO_MODELS:
        return 422, f"model must be one of {', '.join(_VEO_MODELS)}"
    if "aspectRatio" in body and body["aspectRatio"] not in _VEO_RATIOS:
        return 422, f"aspectRatio must be one of {', '.join(_VEO_RATIOS)}"
    urls = body.get("imageUrls")
    if urls is not None and (not isinstance(urls, list) or not all(_is_url(u) for u in urls)):
        return 422, "imageUrls must be a list of URLs"
    return _check_callback(body, required=False)


def validate_suno(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/generate`` (callBackUrl is mandatory for Suno)."""
    refusal = _check_callback(body, required=True)
    if refusal:
        return refusal
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        return 422, "model is required"
    for flag in ("customMode", "instrumental"):
        if not isinstance(body.get(flag), bool):
            return 422, f"{flag} is required and must be a boolean"
    prompt = body.get("prompt")
    has_prompt = isinstance(prompt, str) and bool(prompt.strip())
    if body["customMode"]:
        for name in ("style", "title"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                return 422, f"{name} is required in custom mode"
        if not body["instrumental"] and not has_prompt:
            return 422, "prompt is required in custom mode unless instrumental"
    elif not has_prompt:
        return 422, "prompt is required"
    return None
