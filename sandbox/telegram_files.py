"""Files users send (photos, documents, videos, audio, voice, albums), getFile and downloads.

User side (Python ``emu.send_media(...)``, HTTP ``POST /_user/send_media`` with the same JSON)::

    send_media(user_id, kind, *, size=100_000, chat_id=None, mime_type=None, file_name=None,
               duration=None, width=None, height=None, caption=None, media_group_id=None,
               content=None)   # HTTP: content_b64 (base64 bytes) instead of content
    -> {update_id, message_id, file_id, file_unique_id, file_size, file_path, mime_type,
        media_group_id}

``kind`` is photo | document | video | audio | voice. The emulator makes ``size`` bytes of a
valid file of the type (:mod:`sandbox.telegram_content`; photos are JPEG as Telegram
re-encodes them) unless ``content`` gives the bytes, stores it under a new file_id and queues
a message update shaped like Telegram's: ``photo`` = PhotoSize list, largest last (its own
file_id, ``file_size``, ``width`` x ``height``, default 1280 x 960; smaller thumbnails 90 /
320 / 800 wide, each downloadable); ``document`` {file_id, file_unique_id, file_name,
mime_type, file_size} (defaults: type from the name, else application/pdf, name
``document.<ext>``); ``video`` {+ width 1280, height 720, duration 5, mime_type video/mp4};
``audio`` {+ duration 30, mime_type audio/mpeg}; ``voice`` {+ duration 3, mime_type
audio/ogg}. ``caption`` and ``media_group_id`` (an album = several calls with the same id)
go on the message. ``chat_id`` (negative) sends in that group.

Bot API: getFile (``telegram_methods``) answers {file_id, file_unique_id, file_size,
file_path}; a file over ``config.download_limit`` (20 MB, the cloud Bot API's limit) -> 400
``Bad Request: file is too big``. ``GET /file/bot<token>/<file_path>`` serves the bytes
(wrong token or unknown path -> 404 ``Not Found``); ``GET /_user/file?file_id=`` serves a
user's file without the token (the chat page shows the user's photos with it). Faults:
``add_fault("getFile", ...)`` as for any method; downloads are the pseudo-method ``download``
(``add_fault("download", kind="error"|"flood"|"timeout"|"drop"|"slow", ...)``; ``"*"``
matches them too).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from sandbox.telegram_content import extension, guess_mime, make_content
from sandbox.telegram_media import new_file_id
from sandbox.telegram_model import JSON, ApiError, BotState, make_user
from sandbox.telegram_users import UserError, _group, send_photo

if TYPE_CHECKING:
    from sandbox.telegram_core import EmulatorCore

T = TypeVar("T")
MB = 1024 * 1024
KINDS = ("photo", "document", "video", "audio", "voice")
DEFAULT_SIZE = 100_000
_DEFAULT_MIME = {"photo": "image/jpeg", "document": "application/pdf", "video": "video/mp4",
                 "audio": "audio/mpeg", "voice": "audio/ogg"}
_FOLDER = {"photo": "photos", "document": "documents", "video": "videos", "audio": "music",
           "voice": "voice"}
_THUMB_WIDTHS = (90, 320, 800)
_CHUNK = 256 * 1024


def _store(core: EmulatorCore, bot: BotState, kind: str, data: bytes, mime: str,
           name: str | None) -> tuple[str, str, str]:
    """Keep ``data`` under a new file_id; returns (file_id, unique_id, file_path)."""
    file_id, unique_id = new_file_id(kind)
    path = f"{_FOLDER[kind]}/file_{core.serial()}.{extension(mime, name)}"
    bot.files[file_id] = {"kind": kind, "size": len(data), "unique_id": unique_id,
                          "data": data, "path": path, "mime_type": mime}
    return file_id, unique_id, path


def _photo_sizes(core: EmulatorCore, bot: BotState, data: bytes, width: int,
                 height: int) -> list[JSON]:
    sizes: list[JSON] = []
    for w in _THUMB_WIDTHS:
        if w >= width:
            break
        h = max(1, height * w // width)
        thumb = make_content("image/jpeg", max(len(data) * w * w // (width * width), 700))
        file_id, unique_id, _ = _store(core, bot, "photo", thumb, "image/jpeg", None)
        sizes.append({"file_id": file_id, "file_unique_id": unique_id, "file_size": len(thumb),
                      "width": w, "height": h})
    return sizes


def send_media(
    core: EmulatorCore, bot: BotState, user_id: int, kind: str, *, size: int = DEFAULT_SIZE,
    chat_id: int | None = None, mime_type: str | None = None, file_name: str | None = None,
    duration: int | None = None, width: int | None = None, height: int | None = None,
    caption: str | None = None, media_group_id: str | None = None,
    content: bytes | None = None, first_name: str = "Test", language_code: str = "en",
) -> JSON:
    """The user sends a file of ``kind`` (see the module docstring). Loop thread only."""
    if kind not in KINDS:
        raise UserError(f"kind must be one of {KINDS}")
    if content is None and int(size) < 1:
        raise UserError("size must be positive")
    if content is not None and not content:
        raise UserError("content must be non-empty")
    mime = mime_type or (guess_mime(file_name, _DEFAULT_MIME[kind]) if kind != "photo"
                         else "image/jpeg")
    data = content if content is not None else make_content(mime, int(size))
    if chat_id is None or chat_id == user_id:
        chat = core.open_chat(bot, user_id, first_name, language_code)
        author = chat.user
    else:
        author = make_user(user_id, first_name, language_code, None)
        chat = _group(bot, int(chat_id), "group", None, author)
    if kind == "document" and not file_name:
        file_name = f"document.{extension(mime, None)}"
    file_id, unique_id, path = _store(core, bot, kind, data, mime, file_name)
    main: JSON = {"file_id": file_id, "file_unique_id": unique_id, "file_size": len(data)}
    fields: JSON
    if kind == "photo":
        w, h = int(width or 1280), int(height or 960)
        fields = {"photo": [*_photo_sizes(core, bot, data, w, h),
                            {**main, "width": w, "height": h}]}
    else:
        if kind == "video":
            main.update(width=int(width or 1280), height=int(height or 720),
                        duration=int(duration if duration is not None else 5))
        elif kind in ("audio", "voice"):
            main["duration"] = int(duration if duration is not None else
                                   (30 if kind == "audio" else 3))
        if file_name:
            main["file_name"] = file_name
        main["mime_type"] = mime
        fields = {kind: main}
    if media_group_id is not None:
        fields["media_group_id"] = str(media_group_id)
    if caption:
        fields["caption"] = caption
    media = {"kind": kind, "source": "upload", "upload_size": len(data), "file_id": file_id,
             "filename": file_name, "mime_type": mime, "file_path": path,
             "url": user_file_url(file_id)}
    rec = core.add_message(bot, chat, "user", "user", fields, text=caption, media=media,
                           media_group_id=fields.get("media_group_id"))
    rec.tg["from"] = author
    update_id = core.push_update(bot, "message", copy.deepcopy(rec.tg))
    return {"update_id": update_id, "message_id": rec.message_id, "file_id": file_id,
            "file_unique_id": unique_id, "file_size": len(data), "file_path": path,
            "mime_type": mime, "media_group_id": fields.get("media_group_id")}


def send_media_op(core: EmulatorCore, bot: BotState, args: JSON) -> JSON:
    """``POST /_user/send_media``: the JSON of :func:`send_media`, bytes as ``content_b64``."""
    known = {"user_id", "kind", "size", "chat_id", "mime_type", "file_name", "duration", "width",
             "height", "caption", "media_group_id", "content_b64", "first_name",
             "language_code", "token", "bot"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(f"unknown fields {unknown}")
    raw = args.get("content_b64")
    if raw is not None and "," in str(raw)[:100]:
        raw = str(raw).split(",", 1)[1]  # a data: URL as a browser's FileReader makes it
    texts = ("mime_type", "file_name", "caption", "media_group_id", "first_name", "language_code")
    opt: dict[str, Any] = {k: args[k] for k in texts if args.get(k) is not None}
    opt.update({k: int(args[k]) for k in ("size", "chat_id", "duration", "width", "height")
                if args.get(k) is not None})
    content = base64.b64decode(str(raw), validate=True) if raw is not None else None
    return send_media(core, bot, int(args["user_id"]), str(args.get("kind", "photo")),
                      content=content, **opt)


def check_download_size(config: Any, known: JSON) -> None:
    """getFile: Telegram refuses files bigger than the cloud Bot API's download limit."""
    if (known.get("size") or 0) > config.download_limit:
        raise ApiError(400, "Bad Request: file is too big")


class FileDownloadHandler(RequestHandler):
    """``GET /file/bot<token>/<file_path>``: the bytes of a file, as api.telegram.org does."""

    def initialize(self, core: EmulatorCore) -> None:
        self.core = core

    def compute_etag(self) -> None:
        return None

    def _error(self, status: int, description: str, retry_after: int | None = None) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(ApiError(status, description, retry_after).body()))

    async def get(self, token: str, path: str) -> None:
        core = self.core
        core.flood.method_calls["download"] += 1
        bot = core.bots.get(token)
        if bot is None:
            self._error(404, "Not Found")
            return
        fault = core.faults.pick(token, "download", None)
        if fault is not None and fault.kind != "slow":
            if fault.kind == "error":
                self._error(fault.status, fault.error_description())
            elif fault.kind == "flood":
                self._error(429, fault.error_description(), fault.retry_after)
            else:
                if fault.kind == "timeout":
                    await asyncio.sleep(fault.delay)
                self.detach().close()
            return
        record = next((r for r in bot.files.values()
                       if r.get("path") == path and r.get("data") is not None), None)
        if record is None:
            self._error(404, "Not Found")
            return
        if fault is not None:  # slow: answer after the delay
            await asyncio.sleep(fault.delay)
        data: bytes = record["data"]
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(len(data)))
        view = memoryview(data)
        try:
            for start in range(0, len(data), _CHUNK):
                self.write(bytes(view[start:start + _CHUNK]))
                await self.flush()
        except StreamClosedError:
            return
        self.finish()


def user_file_url(file_id: str) -> str:
    """Where the user's own app (the chat page) shows a file they sent: no token in it."""
    return f"/_user/file?file_id={file_id}"


class UserFileHandler(RequestHandler):
    """``GET /_user/file?file_id=...``: a file a user sent, for the chat page to show."""

    def initialize(self, core: EmulatorCore) -> None:
        self.core = core

    def get(self) -> None:
        file_id = self.get_query_argument("file_id", "")
        for bot in self.core.bots.values():
            record = bot.files.get(file_id)
            if record is not None and record.get("data") is not None:
                self.set_header("Content-Type", record.get("mime_type") or "image/jpeg")
                self.set_header("Cache-Control", "no-store")
                self.finish(record["data"])
                return
        self.set_status(404)
        self.finish("not found")


class MediaUserSide:
    """``TelegramEmulator``'s user-side file methods (mixed into it)."""

    core: EmulatorCore

    def _on_loop(self, fn: Callable[[], T]) -> T:
        raise NotImplementedError

    def send_media(
        self, user_id: int, kind: str, *, size: int = DEFAULT_SIZE, chat_id: int | None = None,
        mime_type: str | None = None, file_name: str | None = None, duration: int | None = None,
        width: int | None = None, height: int | None = None, caption: str | None = None,
        media_group_id: str | None = None, content: bytes | None = None,
        token: str | None = None,
    ) -> JSON:
        """The user sends a photo, document, video, audio or voice note (see
        :mod:`sandbox.telegram_files`). Returns {update_id, message_id, file_id, ...}."""
        return self._on_loop(lambda: send_media(
            self.core, self.core.bot(token), user_id, kind, size=size, chat_id=chat_id,
            mime_type=mime_type, file_name=file_name, duration=duration, width=width,
            height=height, caption=caption, media_group_id=media_group_id, content=content))

    def send_photo(
        self, user_id: int, data: bytes, *, caption: str | None = None, token: str | None = None
    ) -> JSON:
        """The user sends a photo of exactly these bytes. Returns {update_id, message_id,
        file_id}."""
        return self._on_loop(lambda: send_photo(
            self.core, self.core.bot(token), user_id, data, caption=caption))

    def file_bytes(self, file_id: str, *, token: str | None = None) -> bytes | None:
        """The stored bytes of a file the emulator issued (None when it holds no bytes)."""
        return self._on_loop(lambda: (self.core.bot(token).files.get(file_id) or {}).get("data"))
