"""A model's own limits on the files a user sends: KIE refuses bigger files (Recraft: 5 MB)
and bills some models per second of the input (speech-to-text, voice isolation, avatars,
Topaz video), so a price shown for "up to N seconds" must not meet a longer recording. A file
over the limit gets a clear message and the same question; nothing is uploaded."""

from __future__ import annotations

import copy

import pytest

from tests.unit.test_conversation_fakes import Chat
from trt_actors.catalog.model import load_catalog, packaged_catalog_data, parse_catalog
from trt_actors.conversation.engine import MediaSent
from trt_actors.errors import CatalogError

MB = 1024 * 1024


def _open(chat: Chat, query: str, title: str) -> None:
    chat.cmd("models", query)
    chat.press(title)
    chat.press("Start")


def test_a_file_over_the_models_size_limit_is_refused_with_the_same_question() -> None:
    chat = Chat()
    _open(chat, "recraft remove", "Remove Background")
    assert "up to 5 MB" in chat.text()  # the hint names the model's limit, not Telegram's
    chat.send(MediaSent("photo", file_id="F1", file_unique_id="U1", size=6 * MB))
    assert "at most 5 MB" in chat.text() and "Step 1/1" in chat.text()
    assert chat.ctx.transfers == []
    chat.send(MediaSent("photo", file_id="F2", file_unique_id="U2", size=4 * MB))
    [transfer] = chat.ctx.transfers
    assert transfer["file_id"] == "F2"


def test_a_recording_longer_than_the_price_assumes_is_refused() -> None:
    chat = Chat()
    _open(chat, "speech text", "ElevenLabs Speech to Text")
    chat.send(MediaSent("audio", file_id="A1", file_unique_id="UA1", size=MB, duration=601))
    assert "at most 600 seconds" in chat.text() and "Step 1/" in chat.text()
    assert chat.ctx.transfers == []
    chat.send(MediaSent("voice", file_id="A2", file_unique_id="UA2", size=MB, duration=42))
    [transfer] = chat.ctx.transfers
    assert transfer["file_id"] == "A2"


def test_russian_users_read_the_limits_in_russian() -> None:
    chat = Chat(language_code="ru")
    chat.cmd("models", "recraft remove")
    chat.press(chat.labels()[0])
    chat.press(chat.labels()[0])
    chat.send(MediaSent("photo", file_id="F1", file_unique_id="U1", size=6 * MB))
    assert "не больше 5 МБ" in chat.text()


def test_the_limits_sit_on_the_fields_that_bill_or_refuse() -> None:
    catalog = load_catalog()
    assert catalog.get("recraft/remove-background").field("image").max_mb == 5
    assert catalog.get("elevenlabs/speech-to-text").field("audio_url").max_duration_s == 600
    assert catalog.get("elevenlabs/audio-isolation").field("audio_url").max_duration_s == 300
    assert catalog.get("topaz/video-upscale").field("video_url").max_duration_s == 15
    for model_id in ("kling/v1-avatar-standard", "kling/ai-avatar-v1-pro",
                     "infinitalk/from-audio"):
        assert catalog.get(model_id).field("audio_url").max_duration_s == 15


@pytest.mark.parametrize("key", ["max_mb", "max_duration_s"])
def test_a_file_limit_on_a_text_field_stops_the_load(key: str) -> None:
    data = copy.deepcopy(packaged_catalog_data())
    z_image = next(m for m in data["models"] if m["id"] == "z-image")
    next(f for f in z_image["fields"] if f["name"] == "prompt")[key] = 5
    with pytest.raises(CatalogError, match=f"{key} does not apply"):
        parse_catalog(data)
