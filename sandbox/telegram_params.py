"""Bot API call parameters, whatever way they came (query, form, multipart, JSON body).

PTB posts form-encoded fields (multipart when uploading) where non-string values are
JSON-encoded strings (``chat_id=123``, ``reply_markup={"inline_keyboard": ...}``); a JSON body
carries native values. These accessors accept both.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.telegram_media import Upload
from sandbox.telegram_model import JSON, bad_request


class Params:
    """Typed access to one call's parameters; missing required ones give Telegram's 400."""

    def __init__(self, values: JSON, uploads: dict[str, Upload] | None = None) -> None:
        self.values = values
        self.uploads = uploads or {}

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def req_str(self, name: str) -> str:
        value = self.text(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty" if value == "" else f"{name} is required")
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f"field \"{name}\" must be of type Integer")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"field \"{name}\" must be of type Integer") from None

    def req_int(self, name: str) -> int:
        value = self.integer(name)
        if value is None:
            raise bad_request(f"{name} is required" if name != "chat_id" else "chat_id is empty")
        return value

    def number(self, name: str, default: float = 0.0) -> float:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"field \"{name}\" must be of type Number") from None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1")

    def obj(self, name: str) -> Any:
        """A JSON-typed parameter (object/array), decoded if it came as a string."""
        value = self.values.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def chat_id(self) -> int:
        value = self.values.get("chat_id")
        if isinstance(value, str) and value.startswith("@"):
            raise bad_request("chat not found")
        return self.req_int("chat_id")
