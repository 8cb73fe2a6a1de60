"""User input against the catalog: parse what a user typed, check typed values.

Two entry points, used by the wizard, ``/gen`` and the job alike, so KIE never receives an
input that fails them:

- :func:`parse_field` turns one typed text (or a button's value) into a typed value;
- :func:`validate_input` checks a whole input dict and returns the exact ``input`` for KIE.

Every rejection carries a short message in English and Russian that says what *is* allowed.
Messages never repeat a rejected URL: a Telegram file URL carries the bot token.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from trt_actors.catalog.combinations import combination_problems
from trt_actors.catalog.model import (
    FieldSpec,
    FieldType,
    Localized,
    ModelSpec,
    is_system_field,
)
from trt_actors.errors import TrtError

__all__ = [
    "FieldRejected",
    "InputRejected",
    "check_value",
    "parse_field",
    "rule_for",
    "validate_input",
]

MAX_URL_LENGTH = 2048

_TRUE = {"yes", "y", "true", "1", "on", "да", "д"}
_FALSE = {"no", "n", "false", "0", "off", "нет", "н"}
_LIST_SPLIT = re.compile(r"[\s,]+")
# a bot token anywhere in a URL (e.g. behind a proxy): never pass it on to KIE
_BOT_TOKEN = re.compile(r"bot\d{5,}:[A-Za-z0-9_-]{20,}")
_HOST = re.compile(r"[\w.-]+|[0-9A-Fa-f:.]+")

# what a url field points to: (English singular, English plural, Russian acc. sg., acc. pl.)
_MEDIA_WORDS = {
    "image": ("the image", "images", "изображение", "изображения"),
    "video": ("the video", "videos", "видео", "видео"),
    "audio": ("the audio file", "audio files", "аудиофайл", "аудиофайлы"),
    None: ("the file", "files", "файл", "файлы"),
}


class FieldRejected(TrtError):
    """A value for one input field was rejected."""

    def __init__(self, field: str, message: Localized) -> None:
        self.field = field
        self.message = message
        """What the user is told: what is allowed, in both languages."""
        super().__init__(f"{field}: {message.en}")


class InputRejected(TrtError):
    """The input for a model was rejected."""

    def __init__(self, errors: Sequence[FieldRejected], model_id: str = "") -> None:
        self.errors = list(errors)
        self.model_id = model_id
        prefix = f"model {model_id!r}: " if model_id else ""
        super().__init__(prefix + "; ".join(str(e) for e in self.errors))

    @property
    def message(self) -> Localized:
        """All rejections, one per line, for the user."""
        return Localized(
            en="\n".join(f"{e.field}: {e.message.en}" for e in self.errors),
            ru="\n".join(f"{e.field}: {e.message.ru}" for e in self.errors),
        )


def _msg(en: str, ru: str) -> Localized:
    return Localized(en=en, ru=ru)


def _num(value: float, russian: bool = False) -> str:
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    return text.replace(".", ",") if russian else text


# --- what is allowed, per field type ---------------------------------------------------------


def _number_rule(field: FieldSpec) -> Localized:
    whole = field.type is FieldType.INTEGER
    en, ru = ("Send a whole number", "Отправьте целое число") if whole else (
        "Send a number", "Отправьте число")
    lo, hi = field.min, field.max
    if lo is not None and hi is not None:
        return _msg(f"{en} from {_num(lo)} to {_num(hi)}",
                    f"{ru} от {_num(lo, True)} до {_num(hi, True)}")
    if lo is not None:
        return _msg(f"{en} of at least {_num(lo)}", f"{ru} не меньше {_num(lo, True)}")
    if hi is not None:
        return _msg(f"{en} of at most {_num(hi)}", f"{ru} не больше {_num(hi, True)}")
    return _msg(en, ru)


def _enum_rule(field: FieldSpec) -> Localized:
    values = ", ".join(field.enum or ())
    return _msg(f"Choose one of: {values}", f"Выберите один из вариантов: {values}")


def _url_rule(field: FieldSpec) -> Localized:
    one_en, _, one_ru, _ = _MEDIA_WORDS[field.media]
    return _msg(f"Send an http(s) link to {one_en}", f"Отправьте ссылку http(s) на {one_ru}")


def _url_list_rule(field: FieldSpec) -> Localized:
    _, many_en, _, many_ru = _MEDIA_WORDS[field.media]
    lo, hi = max(field.min_items or 0, 1), field.max_items
    if hi == 1:
        return _url_rule(field)
    tail_en = f"http(s) links to {many_en}, separated by spaces or new lines"
    # "(от 1 до 8)" rather than "от 1 до 8 ссылок": no Russian plural forms to get wrong
    tail_ru = "через пробел или с новой строки"
    links_ru = f"Отправьте ссылки http(s) на {many_ru}"
    if hi is not None and lo == hi:
        return _msg(f"Send {hi} {tail_en}", f"{links_ru} (ровно {hi}) {tail_ru}")
    if hi is not None:
        return _msg(f"Send {lo} to {hi} {tail_en}", f"{links_ru} (от {lo} до {hi}) {tail_ru}")
    if lo > 1:
        return _msg(f"Send at least {lo} {tail_en}", f"{links_ru} (не меньше {lo}) {tail_ru}")
    return _msg(f"Send one or more {tail_en}",
                f"Отправьте одну или несколько ссылок http(s) на {many_ru} {tail_ru}")


_TEXT_RULE = _msg("Send some text", "Отправьте текст")
_BOOL_RULE = _msg("Answer yes or no", "Ответьте «да» или «нет»")


def rule_for(field: FieldSpec) -> Localized:
    """What the field accepts, as a hint the wizard can show under its question."""
    match field.type:
        case FieldType.INTEGER | FieldType.NUMBER:
            return _number_rule(field)
        case FieldType.ENUM:
            return _enum_rule(field)
        case FieldType.BOOLEAN:
            return _BOOL_RULE
        case FieldType.URL:
            return _url_rule(field)
        case FieldType.URL_LIST:
            return _url_list_rule(field)
    if field.max_length is not None:
        return _msg(f"Send text of at most {field.max_length} characters",
                    f"Отправьте текст (максимум символов: {field.max_length})")
    return _TEXT_RULE


# --- typed values ----------------------------------------------------------------------------


def _url_problem(value: str) -> str | None:
    """None if ``value`` is a usable public http(s) URL, else ``"telegram"`` or ``"bad"``."""
    if len(value) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in value):
        return "bad"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "bad"
    host = parts.hostname or ""
    if host == "api.telegram.org" and re.match(r"/(file/)?bot", parts.path, re.IGNORECASE):
        return "telegram"
    if _BOT_TOKEN.search(value):
        return "telegram"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "bad"
    if parts.username is not None or parts.password is not None:
        return "bad"  # credentials in a link would be passed on to KIE
    if not _HOST.fullmatch(host) or not any(c.isalnum() for c in host):
        return "bad"
    return None


def _check_url(field: FieldSpec, value: Any, name: str, position: int | None = None) -> str:
    problem = _url_problem(value) if isinstance(value, str) else "bad"
    if problem is None:
        return str(value)
    one_en, _, one_ru, _ = _MEDIA_WORDS[field.media]
    if problem == "telegram":
        rule = _msg(
            f"That is a private Telegram file link; send a public http(s) link to {one_en}",
            f"Это закрытая ссылка на файл в Telegram; отправьте публичную ссылку http(s) "
            f"на {one_ru}",
        )
    else:
        rule = _url_rule(field)
    if position is not None:
        rule = _msg(f"Link {position}: {rule.en}", f"Ссылка {position}: {rule.ru}")
    raise FieldRejected(name, rule)


def check_value(field: FieldSpec, value: Any) -> Any:
    """Check an already-typed value against its field; return the value to send to KIE.

    Strict about types: ``True`` is not an integer, ``5`` is not the enum value ``"5"``.
    Raises ``FieldRejected``.
    """
    name = field.name
    match field.type:
        case FieldType.STRING:
            if not isinstance(value, str) or not value.strip():
                raise FieldRejected(name, rule_for(field))
            size = len(value)
            if field.max_length is not None and size > field.max_length:
                raise FieldRejected(name, _msg(
                    f"At most {field.max_length} characters (you sent {size})",
                    f"Максимум символов: {field.max_length} (вы отправили {size})"))
            if field.min_length is not None and size < field.min_length:
                raise FieldRejected(name, _msg(
                    f"At least {field.min_length} characters (you sent {size})",
                    f"Минимум символов: {field.min_length} (вы отправили {size})"))
            return value
        case FieldType.INTEGER | FieldType.NUMBER:
            whole = field.type is FieldType.INTEGER
            if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
                raise FieldRejected(name, _number_rule(field))
            number: float = value
            if ((isinstance(number, float) and not math.isfinite(number))
                    or (field.min is not None and number < field.min)
                    or (field.max is not None and number > field.max)):
                raise FieldRejected(name, _number_rule(field))
            return value
        case FieldType.BOOLEAN:
            if not isinstance(value, bool):
                raise FieldRejected(name, _BOOL_RULE)
            return value
        case FieldType.ENUM:
            if not isinstance(value, str) or value not in (field.enum or ()):
                raise FieldRejected(name, _enum_rule(field))
            return value
        case FieldType.URL:
            return _check_url(field, value, name)
        case FieldType.URL_LIST:
            if not isinstance(value, list | tuple):
                raise FieldRejected(name, _url_list_rule(field))
            urls = [_check_url(field, v, name, i) for i, v in enumerate(value, start=1)]
            return _check_count(field, urls)
    raise AssertionError(f"unhandled field type {field.type}")  # pragma: no cover


def _check_count(field: FieldSpec, urls: list[str]) -> list[str]:
    count = len(urls)
    low = max(field.min_items or 0, 1)
    if field.max_items == 1 and count > 1:
        raise FieldRejected(field.name, _msg(
            f"Send only one link (you sent {count})",
            f"Нужна только одна ссылка (вы отправили {count})"))
    if field.max_items is not None and count > field.max_items:
        raise FieldRejected(field.name, _msg(
            f"At most {field.max_items} links (you sent {count})",
            f"Максимум ссылок: {field.max_items} (вы отправили {count})"))
    if count < low:
        if count == 0:
            raise FieldRejected(field.name, _url_list_rule(field))
        raise FieldRejected(field.name, _msg(
            f"At least {low} links (you sent {count})",
            f"Минимум ссылок: {low} (вы отправили {count})"))
    return urls


# --- typed text ------------------------------------------------------------------------------


def parse_field(field: FieldSpec, text: str) -> Any:
    """Turn what a user typed (or a button's value) into the field's typed value.

    Numbers accept a decimal comma; booleans accept yes/no/true/false/да/нет/1/0; enums match
    case-insensitively and return the catalog's spelling, always a string; url lists split on
    spaces, commas and new lines. Raises ``FieldRejected`` saying what is allowed.
    """
    text = text.strip()
    match field.type:
        case FieldType.INTEGER:
            try:
                number: Any = int(text) if len(text) <= 30 else None
            except ValueError:
                number = None
            if number is None:
                raise FieldRejected(field.name, _number_rule(field))
            return check_value(field, number)
        case FieldType.NUMBER:
            if text.count(",") == 1 and "." not in text:
                text = text.replace(",", ".")
            try:
                number = float(text) if len(text) <= 30 else None
            except ValueError:
                number = None
            if number is None:
                raise FieldRejected(field.name, _number_rule(field))
            return check_value(field, number)
        case FieldType.BOOLEAN:
            word = text.casefold()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise FieldRejected(field.name, _BOOL_RULE)
        case FieldType.ENUM:
            values = field.enum or ()
            if text in values:
                return text
            folded = {v.casefold(): v for v in values}
            if text.casefold() in folded:
                return folded[text.casefold()]
            raise FieldRejected(field.name, _enum_rule(field))
        case FieldType.URL_LIST:
            urls = [u for u in _LIST_SPLIT.split(text) if u]
            return check_value(field, urls)
    return check_value(field, text)


# --- whole inputs ----------------------------------------------------------------------------


def validate_input(model: ModelSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check a whole typed input for ``model``; return the exact dict to send as KIE's input.

    Rejects system fields (``model``, ``callBackUrl``) and unknown fields, checks required
    fields, types and limits, and fills defaults for missing fields that have one (a value of
    ``None`` counts as missing). Raises ``InputRejected`` listing every rejected field.
    """
    if not isinstance(values, Mapping):
        raise InputRejected([FieldRejected("input", _msg(
            "The input must be a set of field values", "Нужен набор значений полей"))],
            model.id)
    errors: list[FieldRejected] = []
    known = {f.name for f in model.fields}
    for key in values:
        name = key if isinstance(key, str) else repr(key)
        if isinstance(key, str) and is_system_field(key):
            errors.append(FieldRejected(name[:40], _msg(
                "This is set by the bot and cannot be given",
                "Это поле задаёт бот, его нельзя указать")))
        elif key not in known:
            listed = ", ".join(f.name for f in model.fields)
            errors.append(FieldRejected(name[:40], _msg(
                f"Unknown field; this model takes: {listed}",
                f"Неизвестное поле; у этой модели есть: {listed}")))
    result: dict[str, Any] = {}
    for field in model.fields:
        value = values.get(field.name)
        if value is None:
            if field.has_default:
                result[field.name] = copy.deepcopy(field.default)
            elif field.required:
                errors.append(FieldRejected(field.name, _msg(
                    f"This is required. {rule_for(field).en}",
                    f"Это обязательное поле. {rule_for(field).ru}")))
            continue
        try:
            result[field.name] = check_value(field, value)
        except FieldRejected as rejected:
            errors.append(rejected)
    if not errors:
        errors.extend(FieldRejected(name, message) for name, message
                      in combination_problems(model.family, model.id, result))
    if errors:
        raise InputRejected(errors, model.id)
    return result
