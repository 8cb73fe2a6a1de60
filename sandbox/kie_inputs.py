"""Which input URLs a KIE task accepts: what KIE's servers could fetch, and nothing else.

A create request is refused (code 422, the message names the field) when one of its input
URLs is neither public-looking nor the emulator's own: public-looking = ``http``/``https``,
a host that is not localhost / 127.x / 10.x / 172.16-31.x / 192.168.x / 169.254.x / 0.0.0.0
/ ::1, and no ``/file/bot`` in the path (a Telegram file URL carries the bot token: KIE must
never see it). The emulator's own = a live (not expired) upload (``/files/<filePath>``) or a
result file of one of its tasks (``/media/<task_id>/...``); an expired upload is refused the
same way. Checked: every string in the market ``input`` that looks like a URL (or sits in a
field named ``*url``/``*urls``), and Veo's ``imageUrls``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from sandbox.kie_core import EmulatorCore

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_FREE_TEXT = ("prompt", "text", "negative_prompt", "lyrics", "style", "title")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def _private_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if not host or host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (address.is_private or address.is_loopback or address.is_link_local
            or address.is_unspecified)


def public_looking(url: str) -> bool:
    """True when KIE's servers could fetch ``url`` and it carries no bot token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and not _private_host(host)
            and "/file/bot" not in parts.path)


def _own_bases(core: EmulatorCore) -> list[str]:
    return [b.rstrip("/") for b in (core.base_url, core.config.public_url) if b]


def own_live_file(core: EmulatorCore, url: str) -> bool:
    """``url`` is a live upload or a task result served by this emulator."""
    for base in _own_bases(core):
        if not url.startswith(base + "/"):
            continue
        path = url[len(base):].split("?", 1)[0]
        if path.startswith("/files/"):
            upload = core.uploads.get(unquote(path[len("/files/"):]))
            return upload is not None and not upload.expired(core.clock(), core.config)
        if path.startswith("/media/"):
            task_id = path[len("/media/"):].split("/", 1)[0]
            return task_id in core.tasks
    return False


def _url_name(field: str) -> bool:
    return field.lower().endswith(("url", "urls"))


def _urls(value: Any, field: str, url_field: bool) -> list[tuple[str, str]]:
    """(field name as shown, string) pairs for every URL-like string under ``value``."""
    if isinstance(value, str):
        return [(field, value)] if url_field or _SCHEME.match(value) else []
    if isinstance(value, list):
        return [pair for i, item in enumerate(value)
                for pair in _urls(item, f"{field}[{i}]", url_field)]
    if isinstance(value, dict):
        return [pair for key, item in value.items() if str(key) not in _FREE_TEXT
                for pair in _urls(item, f"{field}.{key}", _url_name(str(key)))]
    return []


def refuse_inputs(core: EmulatorCore, value: Any, field: str) -> tuple[int, str] | None:
    """None when every input URL under ``value`` is fetchable; else ``(422, message)``."""
    url_field = _url_name(field)
    with core.lock:
        for name, url in _urls(value, field, url_field):
            if not url:
                continue
            if not (public_looking(url) or own_live_file(core, url)):
                return 422, (f"{name} is not an accessible file URL (a public http(s) URL or "
                             f"an unexpired upload is required)")
    return None
