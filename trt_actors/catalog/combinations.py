"""Value combinations KIE refuses: rules that span fields, checked by
:func:`trt_actors.catalog.validation.validate_input` once every field passed its own checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trt_actors.catalog.fields import Localized

__all__ = ["Problem", "combination_problems"]

Problem = tuple[str, Localized]
"""The field to name and what the user is told (English and Russian)."""


def _msg(en: str, ru: str) -> Localized:
    return Localized(en=en, ru=ru)


_SUNO_PLAIN_PROMPT = 500
"""docs.kie.ai/suno-api/generate-music: non-custom prompt ≤ 500 (custom lyrics ≤ 5000)."""


def _suno_problems(values: Mapping[str, Any]) -> list[Problem]:
    """docs.kie.ai/suno-api/generate-music: custom mode needs style and title (and prompt
    unless instrumental); non-custom mode takes only a prompt of at most 500 characters."""
    problems: list[Problem] = []
    if values.get("customMode") is True:
        for name in ("style", "title"):
            if values.get(name) is None:
                problems.append((name, _msg(
                    "Required in custom mode", "Обязательно в своём режиме")))
        if values.get("instrumental") is not True and values.get("prompt") is None:
            problems.append(("prompt", _msg(
                "Lyrics are required in custom mode unless instrumental",
                "В своём режиме нужен текст песни, если это не инструментал")))
        return problems
    for name in ("style", "title"):
        if values.get(name) is not None:
            problems.append((name, _msg(
                "Only in custom mode; leave it empty or turn custom mode on",
                "Только в своём режиме; оставьте пустым или включите свой режим")))
    prompt = values.get("prompt")
    if isinstance(prompt, str) and len(prompt) > _SUNO_PLAIN_PROMPT:
        problems.append(("prompt", _msg(
            f"At most {_SUNO_PLAIN_PROMPT} characters unless custom mode is on "
            f"(you sent {len(prompt)})",
            f"Максимум символов без своего режима: {_SUNO_PLAIN_PROMPT} "
            f"(вы отправили {len(prompt)})")))
    return problems


def _suno_extend_problems(values: Mapping[str, Any]) -> list[Problem]:
    """docs.kie.ai/suno-api/extend-music: with ``defaultParamFlag`` true (own parameters),
    prompt, style, title and continueAt are required; false continues with the source's."""
    if values.get("defaultParamFlag") is not True:
        return []
    return [(name, _msg("Required when you set the continuation's own lyrics and style",
                        "Обязательно, когда вы задаёте свой текст и стиль продолжения"))
            for name in ("prompt", "style", "title", "continueAt") if values.get(name) is None]


_EXCLUDED: dict[str, tuple[tuple[dict[str, Any], Localized], ...]] = {
    # docs.kie.ai/market/hailuo/2-3-image-to-video-standard: 10 s is not available at 1080P
    "hailuo/2-3-image-to-video-standard": (
        ({"duration": "10", "resolution": "1080P"}, _msg(
            "10-second videos are not available at 1080P; choose 6 seconds or 768P",
            "10-секундные видео недоступны в 1080P; выберите 6 секунд или 768P")),
    ),
}
"""Model id → value combinations KIE refuses, each with what the user is told."""


def combination_problems(family: str, model_id: str,
                         values: Mapping[str, Any]) -> list[Problem]:
    """(field, what the user is told) for each rule spanning fields that ``values`` break."""
    problems = _suno_problems(values) if family == "suno" \
        else _suno_extend_problems(values) if family == "suno_extend" else []
    for combination, message in _EXCLUDED.get(model_id, ()):
        if all(values.get(k) == v for k, v in combination.items()):
            problems.append((next(iter(combination)), message))
    return problems
