"""KIE's file upload API: three ways in, one temporary download URL out.

    POST /api/file-stream-upload   multipart: file, uploadPath, fileName?
    POST /api/file-base64-upload   JSON {base64Data ("data:<type>;base64,..." or plain), uploadPath,
                                   fileName?}
    POST /api/file-url-upload      JSON {fileUrl, uploadPath, fileName?} (the emulator fetches it,
                                   30 s timeout)
    GET|HEAD /files/<filePath>     the uploaded bytes (no auth) until they expire, then 404

``Authorization: Bearer <key>`` or 401. Answer ``{success: true, code: 200, msg: "File uploaded
successfully", data: {fileName, filePath, downloadUrl, fileSize, mimeType, uploadedAt}}``;
errors ``{success: false, code, msg, data: null}`` with the same HTTP status: 400 (missing
uploadPath / file / base64Data / fileUrl, bad base64, an unreachable fileUrl, a file over
``upload_limit_mb`` (100)), 401. Without ``fileName`` the name is random (keeping the
extension); the same uploadPath + fileName replaces the older file. Uploads expire
``upload_ttl_s`` (86400) after they were made (config: constructor argument or POST
/_control/config; ``emu.expire_uploads()`` / POST /_control/expire_uploads ends them all now).
Faults: endpoints ``upload.stream``, ``upload.base64``, ``upload.url``, group ``upload`` (and
``*``), kinds error / delay / drop as for the other endpoints. ``emu.uploads()`` (GET
/_control/uploads) lists every upload: its data fields plus endpoint, uploadPath, authorization
(the header used), source_url (url upload), uploaded_mono, expired.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import mimetypes
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from sandbox.kie_handlers import KieHandler

if TYPE_CHECKING:
    from sandbox.kie_config import EmulatorConfig
    from sandbox.kie_core import EmulatorCore

_MB = 1024 * 1024
_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
          (b"%PDF-", "application/pdf"), (b"ID3", "audio/mpeg"), (b"OggS", "audio/ogg"))


@dataclass
class StoredUpload:
    """One uploaded file."""

    file_name: str
    file_path: str
    download_url: str
    data: bytes
    mime_type: str
    uploaded_at: str
    uploaded_mono: float
    endpoint: str
    upload_path: str
    authorization: str
    source_url: str | None = None
    ended: bool = False

    def expired(self, now: float, config: EmulatorConfig) -> bool:
        return self.ended or now >= self.uploaded_mono + config.upload_ttl_s

    def data_fields(self) -> dict[str, Any]:
        return {"fileName": self.file_name, "filePath": self.file_path,
                "downloadUrl": self.download_url, "fileSize": len(self.data),
                "mimeType": self.mime_type, "uploadedAt": self.uploaded_at}

    def view(self, now: float, config: EmulatorConfig) -> dict[str, Any]:
        return {**self.data_fields(), "endpoint": self.endpoint, "uploadPath": self.upload_path,
                "authorization": self.authorization, "source_url": self.source_url,
                "uploaded_mono": self.uploaded_mono, "expired": self.expired(now, config)}


def sniff_mime(data: bytes, name: str | None, declared: str | None) -> str:
    if declared and declared != "application/octet-stream":
        return declared
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[4:8] == b"ftyp":
        return "video/mp4"
    guessed = mimetypes.guess_type(name or "")[0]
    return guessed or "application/octet-stream"


def uploads_view(core: EmulatorCore) -> list[dict[str, Any]]:
    with core.lock:
        now = core.clock()
        return [u.view(now, core.config) for u in core.uploads.values()]


def expire_uploads(core: EmulatorCore) -> None:
    with core.lock:
        for upload in core.uploads.values():
            upload.ended = True


class _Refused(Exception):
    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class UploadHandler(KieHandler):
    """Shared flow: count, injected error, auth, read the file, store, injected delay/drop."""

    def envelope(self, http_status: int, code: int, msg: str, data: Any = None, *,
                 natural: bool = True) -> None:
        self.set_status(http_status)
        self.set_header("Content-Type", "application/json")
        self.core.count_answer(self.endpoint, code)
        self.finish(json.dumps({"success": code == 200, "code": code,
                                self.core.config.message_key: msg, "data": data}))

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _Refused("request body must be a JSON object")
        return body

    async def read_file(self) -> tuple[bytes, str | None, str | None, dict[str, Any]]:
        """(bytes, original name, declared type, fields) of the request."""
        raise NotImplementedError

    def check_size(self, size: int) -> None:
        limit = self.core.config.upload_limit_mb
        if size > limit * _MB:
            raise _Refused(f"File size exceeds the limit of {limit:g} MB")

    async def post(self) -> None:
        core = self.core
        core.count_call(self.endpoint)
        rule = core.endpoint_fault(self.endpoint, None)
        if rule is not None and rule.kind == "error":
            self.answer_fault(rule)
            return
        if self.refuse_auth_or_limit(None):
            return
        try:
            data, original, declared, fields = await self.read_file()
            upload_path = str(fields.get("uploadPath") or "").strip("/")
            if not upload_path:
                raise _Refused("uploadPath is required")
            self.check_size(len(data))
            stored = self.store(data, original, declared, fields, upload_path)
        except _Refused as refused:
            self.envelope(400, 400, refused.msg)
            return
        if await self.after_work(rule):
            return
        self.envelope(200, 200, "File uploaded successfully", stored.data_fields())

    def store(self, data: bytes, original: str | None, declared: str | None,
              fields: dict[str, Any], upload_path: str) -> StoredUpload:
        name = str(fields.get("fileName") or "").strip().replace("/", "_")
        mime = sniff_mime(data, name or original, declared)
        if not name:
            ext = (original or "").rsplit(".", 1)[1] if "." in (original or "") else (
                (mimetypes.guess_extension(mime) or ".bin").lstrip("."))
            name = f"{uuid.uuid4().hex}.{ext}"
        core = self.core
        file_path = f"{upload_path}/{name}"
        now = datetime.datetime.now(datetime.UTC)
        stored = StoredUpload(
            file_name=name, file_path=file_path,
            download_url=f"{core.media_base()}/files/{file_path}", data=data, mime_type=mime,
            uploaded_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            uploaded_mono=core.clock(), endpoint=self.endpoint, upload_path=upload_path,
            authorization=self.request.headers.get("Authorization", ""),
            source_url=fields.get("fileUrl"))
        with core.lock:
            core.uploads[file_path] = stored
        return stored


class StreamUploadHandler(UploadHandler):
    endpoint = "upload.stream"

    async def read_file(self) -> tuple[bytes, str | None, str | None, dict[str, Any]]:
        fields = {k: v[-1].decode("utf-8", "replace")
                  for k, v in self.request.body_arguments.items()}
        parts = self.request.files.get("file")
        if not parts:
            raise _Refused("file is required")
        part = parts[-1]
        return part.body, part.filename, part.content_type, fields


class Base64UploadHandler(UploadHandler):
    endpoint = "upload.base64"

    async def read_file(self) -> tuple[bytes, str | None, str | None, dict[str, Any]]:
        body = self.json_body()
        raw = body.get("base64Data")
        if not isinstance(raw, str) or not raw:
            raise _Refused("base64Data is required")
        declared = None
        if raw.startswith("data:") and "," in raw:
            head, raw = raw.split(",", 1)
            declared = head[5:].split(";", 1)[0] or None
        self.check_size(len(raw) * 3 // 4)
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _Refused("base64Data is not valid base64") from None
        return data, None, declared, body


class UrlUploadHandler(UploadHandler):
    endpoint = "upload.url"

    async def read_file(self) -> tuple[bytes, str | None, str | None, dict[str, Any]]:
        body = self.json_body()
        url = body.get("fileUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _Refused("fileUrl is required (an http(s) URL)")
        received: list[bytes] = []
        limit = self.core.config.upload_limit_mb * _MB
        total = 0

        def collect(chunk: bytes) -> None:
            nonlocal total
            total += len(chunk)
            if total <= limit:
                received.append(chunk)

        request = HTTPRequest(url, request_timeout=30.0, streaming_callback=collect,
                              follow_redirects=True)
        try:
            response = await AsyncHTTPClient().fetch(request)
        except (HTTPClientError, OSError, ValueError):
            raise _Refused("Failed to download file from URL") from None
        self.check_size(total)
        name = url.split("?", 1)[0].rsplit("/", 1)[-1] or None
        declared = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip()
        return b"".join(received), name, declared or None, body


class UploadedFileHandler(KieHandler):
    """``GET|HEAD /files/<filePath>``: an upload's bytes until it expires."""

    endpoint = "files"

    def _serve(self, path: str, *, with_body: bool) -> None:
        core = self.core
        core.count_call(self.endpoint)
        with core.lock:
            upload = core.uploads.get(path)
            live = upload is not None and not upload.expired(core.clock(), core.config)
        if upload is None or not live:
            self.set_status(404)
            self.finish("not found")
            return
        self.set_header("Content-Type", upload.mime_type)
        self.set_header("Content-Length", str(len(upload.data)))
        self.finish(upload.data if with_body else None)

    def get(self, path: str) -> None:
        self._serve(path, with_body=True)

    def head(self, path: str) -> None:
        self._serve(path, with_body=False)


UPLOAD_ROUTES = (
    (r"/api/file-stream-upload", StreamUploadHandler),
    (r"/api/file-base64-upload", Base64UploadHandler),
    (r"/api/file-url-upload", UrlUploadHandler),
    (r"/files/(.+)", UploadedFileHandler),
)
