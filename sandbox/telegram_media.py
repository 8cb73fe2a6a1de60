"""Media for send<Photo|Video|Audio|Document|Animation|Voice> and sendMediaGroup.

A media value is an http(s) URL, a file_id this emulator issued earlier, or an uploaded
multipart part (the part named like the parameter, or ``attach://<name>``). Telegram's limits:
by URL photos ≤ 5 MB and other files ≤ 20 MB; by upload photos ≤ 10 MB, others ≤ 50 MB.
Downloading a URL happens only with ``config.fetch_urls``.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from sandbox.telegram_model import JSON, BotState, EmulatorConfig, bad_request

#: Bot API method (lower case) -> media kind (= parameter name and Message field).
MEDIA_METHODS = {
    "sendphoto": "photo",
    "sendvideo": "video",
    "sendaudio": "audio",
    "senddocument": "document",
    "sendanimation": "animation",
    "sendvoice": "voice",
}
WRONG_FILE = "wrong file identifier/HTTP URL specified"
_ids = itertools.count(1)


@dataclass
class Upload:
    """One uploaded multipart part."""

    filename: str
    body: bytes
    content_type: str


def new_file_id(kind: str) -> tuple[str, str]:
    """A fresh (file_id, file_unique_id) pair."""
    n = next(_ids)
    digest = hashlib.sha1(f"{kind}{n}".encode()).hexdigest()[:16]
    return f"EMU{kind[:2].upper()}{n}_{digest}", f"U{n}{digest[:6]}"


def tg_media(kind: str, file_id: str, unique_id: str, size: int | None, name: str | None) -> JSON:
    """The Message field for this media kind, shaped as Telegram answers it."""
    base: JSON = {"file_id": file_id, "file_unique_id": unique_id}
    if size is not None:
        base["file_size"] = size
    if kind == "photo":
        small = {**base, "file_id": file_id + "_s", "width": 90, "height": 90}
        small.pop("file_size", None)
        return {"photo": [small, {**base, "width": 1280, "height": 1280}]}
    if kind in ("video", "animation"):
        return {kind: {**base, "width": 1280, "height": 720, "duration": 5}}
    if kind in ("audio", "voice"):
        return {kind: {**base, "duration": 30}}
    out = {**base}
    if name:
        out["file_name"] = name
    return {kind: out}


async def _fetch_size(url: str, config: EmulatorConfig, limit: int) -> int:
    """Download ``url`` counting bytes; raise Telegram's 400 when it fails or is too big."""
    received = 0

    def count(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)

    request = HTTPRequest(
        url,
        request_timeout=config.fetch_timeout,
        streaming_callback=count,
        follow_redirects=True,
    )
    try:
        await AsyncHTTPClient().fetch(request)
    except (HTTPClientError, OSError, ValueError) as exc:
        raise bad_request("failed to get HTTP URL content") from exc
    if received > limit:
        raise bad_request(WRONG_FILE)
    return received


async def resolve(
    bot: BotState,
    kind: str,
    value: object,
    uploads: dict[str, Upload],
    param: str,
    config: EmulatorConfig,
) -> tuple[JSON, JSON]:
    """Resolve one media value. Returns (record for messages(), Message fields)."""
    upload: Upload | None = None
    if isinstance(value, str) and value.startswith("attach://"):
        upload = uploads.get(value[len("attach://") :])
        if upload is None:
            raise bad_request(f"can't find attached file \"{value}\"")
    elif value is None or value == "":
        upload = uploads.get(param)
        if upload is None:
            raise bad_request(f"there is no {kind} in the request")
    record: JSON = {"kind": kind, "source": None, "url": None, "upload_size": None,
                    "file_id": None, "filename": None}
    size: int | None = None
    name: str | None = None
    if upload is not None:
        size = len(upload.body)
        limit = config.photo_upload_limit if kind == "photo" else config.other_upload_limit
        if size > limit:
            raise bad_request("file is too big")
        if size == 0:
            raise bad_request("file must be non-empty")
        name = upload.filename
        record.update(source="upload", upload_size=size, filename=name)
    elif isinstance(value, str) and value.startswith(("http://", "https://")):
        record.update(source="url", url=value)
        if config.fetch_urls:
            limit = config.photo_url_limit if kind == "photo" else config.other_url_limit
            size = await _fetch_size(value, config, limit)
            record["fetched_size"] = size
        name = value.rsplit("/", 1)[-1].split("?", 1)[0] or None
    elif isinstance(value, str) and value in bot.files:
        known = bot.files[value]
        record.update(source="file_id", file_id=value)
        size = known.get("size")
    else:
        raise bad_request(WRONG_FILE)
    file_id, unique_id = new_file_id(kind)
    if record["source"] == "file_id":
        file_id = str(value)
        unique_id = bot.files[file_id]["unique_id"]
    else:
        bot.files[file_id] = {"kind": kind, "size": size, "unique_id": unique_id, "data": None}
    record["file_id"] = file_id
    return record, tg_media(kind, file_id, unique_id, size, name)


def media_kind_of_group_item(item: JSON) -> str:
    kind = item.get("type")
    if kind not in ("photo", "video", "audio", "document"):
        raise bad_request("wrong type of the media specified in the media group")
    return str(kind)


def check_group_kinds(kinds: list[str]) -> None:
    """Telegram: 2-10 items; audio only with audio; documents only with documents."""
    if not 2 <= len(kinds) <= 10:
        raise bad_request("wrong number of media in the media group: must be 2-10 items")
    for exclusive in ("audio", "document"):
        if exclusive in kinds and any(k != exclusive for k in kinds):
            raise bad_request(f"{exclusive} can't be mixed with other media types")
