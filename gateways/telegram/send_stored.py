"""Sends of files Telegram already has, by ``file_id``: broadcast copies and results that
``/history`` sends again; and reading the ``file_id`` of a sent result from Telegram's answer
(recorded with the send, so the result outlives KIE's URLs).

Outbox kinds (see ``trt_actors.domain.outbox``):

- ``broadcast``: ``{"text"}`` or ``{"photo", "caption"}`` — one copy of an admin's broadcast;
- ``history``: ``{"files": [{"media", "file_id"}], "caption", "buttons"}`` — a delivered
  result again, the caption on the first part and the buttons under the last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import telegram

if TYPE_CHECKING:
    from gateways.telegram.send import Item, TelegramSender

STORED_KINDS = frozenset({"broadcast", "history"})
_MEDIA = ("photo", "video", "audio", "document", "animation", "voice")


def file_of(message: telegram.Message, part: int) -> dict[str, Any] | None:
    """``{"part", "media", "file_id"}`` of the media a sent message carries (None: text)."""
    if message.photo:
        return {"part": part, "media": "photo", "file_id": message.photo[-1].file_id}
    for media in _MEDIA[1:]:
        found = getattr(message, media, None)
        if found is not None and getattr(found, "file_id", None):
            return {"part": part, "media": media, "file_id": found.file_id}
    return None


async def send_stored(sender: TelegramSender, item: Item) -> list[int]:
    """Deliver a ``broadcast`` or ``history`` row; Telegram's message ids."""
    from gateways.telegram.send import keyboard

    p = item.payload
    if item.kind == "broadcast":
        if p.get("photo"):
            return [await _by_id(sender, item, "photo", str(p["photo"]),
                                 p.get("caption") or None, None)]
        return await sender.send_text(item, str(p.get("text") or "…"))
    files = [f for f in p.get("files") or [] if f.get("media") in _MEDIA and f.get("file_id")]
    markup = keyboard(p.get("buttons"))
    caption = str(p.get("caption") or "") or None
    if not files:
        return await sender.send_text(item, caption or "…", markup)
    last = len(files) - 1
    for index, f in enumerate(files):
        if index in item.progress:  # sent before an in-memory retry
            continue
        item.progress[index] = [await _by_id(
            sender, item, str(f["media"]), str(f["file_id"]),
            caption if index == 0 else None, markup if index == last else None)]
    return item.sent_ids()


async def _by_id(sender: TelegramSender, item: Item, media: str, file_id: str,
                 caption: str | None, markup: Any) -> int:
    send = getattr(sender.bot, f"send_{media}")
    async with sender.gate.slot(item.chat_id, 1, item.id):
        message = await send(item.chat_id, file_id, caption=caption, reply_markup=markup,
                             read_timeout=sender.media_read_timeout)
    return int(message.message_id)
