"""Small real media files the KIE emulator serves as generation results.

The PNG is built at import with zlib/struct (no PIL). The MP4 (1 s, 64x64, H.264 + AAC) and the
MP3 (1 s sine) are real files shipped in ``sandbox/media/`` (generated once with ffmpeg; ffmpeg
is not needed at run time). ``padded`` grows a file to a requested size while keeping it a
valid file of its type, so delivery code can be tested against "large" results.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from pathlib import Path

MEDIA_DIR = Path(__file__).resolve().parent / "media"

CONTENT_TYPES: dict[str, str] = {
    "png": "image/png",
    "mp4": "video/mp4",
    "mp3": "audio/mpeg",
}

# Substrings of model ids whose results are videos / audio; everything else is an image.
_VIDEO_MARKERS = ("veo", "kling", "sora", "wan/", "hailuo", "video", "runway", "seedance",
                  "infinitalk")
_AUDIO_MARKERS = ("suno", "elevenlabs", "speech", "audio", "music")
TEXT_RESULT = "txt"
"""The "extension" of a text result (speech-to-text): no file; see ``kie_tasks.text_result``."""
_TEXT_MARKERS = ("speech-to-text",)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _make_png(width: int = 8, height: int = 8) -> bytes:
    """A valid RGB PNG: a small red/blue gradient."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type "none" for the row
        for x in range(width):
            rows += bytes((255 * x // max(width - 1, 1), 64, 255 * y // max(height - 1, 1)))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


PNG_BYTES: bytes = _make_png()


def media_kind(model: str, family: str = "market") -> str:
    """The file extension of a model's result: ``png``, ``mp4``, ``mp3`` (or ``txt``: text).

    Veo and Runway (and their follow-ups) are always video, Suno always audio, Midjourney,
    4o image and Flux Kontext images (Midjourney's ``mj_video`` a video); market models are
    classified by their id.
    """
    if family.startswith(("veo", "runway")) or model == "mj_video":
        return "mp4"
    if family.startswith("suno"):
        return "mp3"
    if family in ("midjourney", "gpt4o_image", "flux_kontext"):
        return "png"
    lowered = model.lower()
    if any(marker in lowered for marker in _TEXT_MARKERS):
        return TEXT_RESULT
    if any(marker in lowered for marker in _VIDEO_MARKERS):
        return "mp4"
    if any(marker in lowered for marker in _AUDIO_MARKERS):
        return "mp3"
    return "png"


@lru_cache(maxsize=8)
def base_media(ext: str) -> bytes:
    """The unpadded bytes of the sample file for ``ext`` (KeyError for unknown kinds)."""
    if ext == "png":
        return PNG_BYTES
    if ext in ("mp4", "mp3"):
        return (MEDIA_DIR / f"sample.{ext}").read_bytes()
    raise KeyError(ext)


def _syncsafe(n: int) -> bytes:
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))


@lru_cache(maxsize=16)
def padded(ext: str, size: int) -> bytes:
    """The sample file for ``ext`` grown to at least ``size`` bytes, still a valid file.

    PNG: a private ancillary chunk before IEND (decoders skip it). MP4: a trailing ``free``
    box. MP3: an ID3v2 tag whose padding is zeros, in front of the audio frames.
    """
    data = base_media(ext)
    extra = size - len(data)
    if extra <= 0:
        return data
    if ext == "png":
        filler = _png_chunk(b"pADd", b"\0" * max(extra - 12, 0))
        return data[:-12] + filler + data[-12:]
    if ext == "mp4":
        box = max(extra, 8)
        return data + struct.pack(">I", box) + b"free" + b"\0" * (box - 8)
    tag_size = max(extra - 10, 0)
    return b"ID3\x03\x00\x00" + _syncsafe(tag_size) + b"\0" * tag_size + data
