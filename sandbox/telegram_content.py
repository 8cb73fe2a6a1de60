"""Bytes of the files an emulated user sends: valid headers, padded to the asked size.

``make_content(mime_type, size)`` -> bytes of exactly ``size`` bytes (or the smallest valid
file of that type when ``size`` is smaller): JPEG (a real 8x8 baseline image padded with COM
segments), PNG / MP4 / MP3 (the KIE emulator's sample files, padded while staying valid), OGG
(an Opus BOS page with a correct CRC, then zeros), PDF (a one-page document with a padding
comment), GIF / WebP (magic bytes), anything else zeros. Cached: twenty users sending the same
10 MB photo share one buffer.
"""

from __future__ import annotations

import mimetypes
import struct
from functools import lru_cache

from sandbox.kie_media import padded


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _make_jpeg() -> bytes:
    """A baseline 8x8 grey JPEG: one block, DC 0, end of block (Huffman codes "0" and "0")."""
    dqt = _segment(0xDB, b"\x00" + b"\x01" * 64)
    sof = _segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
    dht_dc = _segment(0xC4, b"\x00" + b"\x01" + b"\x00" * 15 + b"\x00")
    dht_ac = _segment(0xC4, b"\x10" + b"\x01" + b"\x00" * 15 + b"\x00")
    sos = _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    app0 = _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    return b"\xff\xd8" + app0 + dqt + sof + dht_dc + dht_ac + sos + b"\x3f" + b"\xff\xd9"


JPEG_BYTES = _make_jpeg()


def _jpeg(size: int) -> bytes:
    extra = size - len(JPEG_BYTES)
    parts: list[bytes] = []
    while extra >= 4:  # COM segments (4 bytes of marker+length, <= 65533 of data each)
        take = min(extra, 65537)
        if 0 < extra - take < 4:
            take -= 4
        parts.append(_segment(0xFE, b"\0" * (take - 4)))
        extra -= take
    return JPEG_BYTES[:2] + b"".join(parts) + JPEG_BYTES[2:]


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def _make_ogg() -> bytes:
    head = b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"
    page = (b"OggS\x00\x02" + b"\0" * 8 + struct.pack("<IIIB", 0x454D55, 0, 0, 1)
            + bytes([len(head)]) + head)
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n")
_MAGIC = {"image/gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
          "image/webp": b"RIFF\0\0\0\0WEBPVP8 "}


def _head_and_zeros(head: bytes, size: int) -> bytes:
    return head + b"\0" * max(size - len(head), 0)


@lru_cache(maxsize=8)
def make_content(mime_type: str, size: int) -> bytes:
    """A file of type ``mime_type`` of ``size`` bytes (at least its minimal valid form)."""
    mime = mime_type.lower()
    if mime in ("image/jpeg", "image/jpg", "image/pjpeg"):
        return _jpeg(size)
    if mime == "image/png":
        return padded("png", size)
    if mime.startswith("video/"):
        return padded("mp4", size)
    if mime in ("audio/ogg", "audio/opus", "audio/x-opus+ogg"):
        return _head_and_zeros(_make_ogg(), size)
    if mime.startswith("audio/"):
        return padded("mp3", size)
    if mime == "application/pdf":
        extra = size - len(_PDF)
        return _PDF[:9] + (b"%" + b"0" * (extra - 2) + b"\n" if extra >= 2 else b"") + _PDF[9:]
    return _head_and_zeros(_MAGIC.get(mime, b""), size)


def guess_mime(file_name: str | None, default: str) -> str:
    """The MIME type of ``file_name`` by its extension, else ``default``."""
    if file_name:
        guessed, _ = mimetypes.guess_type(file_name)
        if guessed:
            return guessed
    return default


def extension(mime_type: str, file_name: str | None) -> str:
    """The file extension for a stored file (from the name, else the type)."""
    if file_name and "." in file_name:
        return file_name.rsplit(".", 1)[1].lower()
    special = {"image/jpeg": "jpg", "audio/ogg": "oga", "audio/mpeg": "mp3", "video/mp4": "mp4"}
    if mime_type in special:
        return special[mime_type]
    guessed = mimetypes.guess_extension(mime_type)
    return guessed.lstrip(".") if guessed else "bin"
