"""Request validation the way KIE does it: a refused request gets body code 422 and a message.

Each function takes the decoded JSON body and returns ``None`` when acceptable, or a
``(code, message)`` pair. Only basics are checked (required fields, types, enums the contract
names); the emulator is not the catalog.
"""

from __future__ import annotations

from typing import Any

Refusal = tuple[int, str] | None

# Input fields that can carry a market model's main input (prompt, text or a media URL).
_MAIN_INPUTS = ("prompt", "text", "image", "image_url", "image_urls", "input_urls", "image_input",
                "video_url", "video_urls", "audio_url")
_VEO_MODELS = ("veo3", "veo3_fast")
_VEO_RATIOS = ("16:9", "9:16", "Auto")
_VEO_MAX_IMAGES = 2  # one image, or first and last frame (docs.kie.ai/veo3-api)
# docs.kie.ai/suno-api/generate-music: limits in custom mode / non-custom mode
_SUNO_LYRICS, _SUNO_STYLE, _SUNO_TITLE, _SUNO_PLAIN_PROMPT = 5000, 1000, 80, 500
# Market input combinations KIE refuses, per model: (field values, message)
_MARKET_REFUSED: dict[str, tuple[tuple[dict[str, Any], str], ...]] = {
    "hailuo/2-3-image-to-video-standard": (
        ({"duration": "10", "resolution": "1080P"}, "10s videos are not supported at 1080P"),
    ),
}
# Market input text limits KIE enforces, per model prefix: field -> max characters
_MARKET_MAX_LENGTH: dict[str, dict[str, int]] = {
    "qwen/": {"negative_prompt": 500},
}


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
    return _check_market_shape(model, data) or _check_callback(body, required=False)


def _check_market_shape(model: str, data: dict[str, Any]) -> Refusal:
    for prefix, limits in _MARKET_MAX_LENGTH.items():
        if not model.startswith(prefix):
            continue
        for name, most in limits.items():
            value = data.get(name)
            if isinstance(value, str) and len(value) > most:
                return 422, f"{name} must be at most {most} characters"
    for combination, message in _MARKET_REFUSED.get(model, ()):
        if all(data.get(k) == v for k, v in combination.items()):
            return 422, message
    return None


def validate_veo(body: dict[str, Any]) -> Refusal:
    """``POST /api/v1/veo/generate``."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return 422, "prompt is required"
    if body.get("model", "veo3_fast") not in _VEO_MODELS:
        return 422, f"model must be one of {', '.join(_VEO_MODELS)}"
    for name in ("aspect_ratio", "aspectRatio"):  # Veo 3.1 docs: aspect_ratio; older: camel
        if name in body and body[name] not in _VEO_RATIOS:
            return 422, f"{name} must be one of {', '.join(_VEO_RATIOS)}"
    urls = body.get("imageUrls")
    if urls is not None and (not isinstance(urls, list) or not all(_is_url(u) for u in urls)):
        return 422, "imageUrls must be a list of URLs"
    if isinstance(urls, list) and len(urls) > _VEO_MAX_IMAGES:
        return 422, f"imageUrls takes 1 or {_VEO_MAX_IMAGES} images"
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
        limits = {"prompt": _SUNO_LYRICS, "style": _SUNO_STYLE, "title": _SUNO_TITLE}
    elif not has_prompt:
        return 422, "prompt is required"
    else:
        limits = {"prompt": _SUNO_PLAIN_PROMPT}
    for name, most in limits.items():
        value = body.get(name)
        if isinstance(value, str) and len(value) > most:
            return 422, f"{name} must be at most {most} characters"
    return None
