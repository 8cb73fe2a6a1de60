"""Delivering a result that is text (speech-to-text): a message, and a file when long.

A transcript that fits one message (4096 characters with the caption) is that message, with
the result's buttons under it. A longer one is a message with the caption and the beginning,
then the whole text as a ``.txt`` document with the buttons. The parts are units of
``Item.progress`` like a media result's, so a retry never sends a part twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import telegram

if TYPE_CHECKING:
    from gateways.telegram.send import Item, TelegramSender

__all__ = ["MESSAGE_LIMIT", "send_text_result", "text_units"]

MESSAGE_LIMIT = 4096
"""Telegram's limit on a message's text."""
_PREVIEW = 3500
_CAPTION_LIMIT = 1024


def text_units(caption: str, text: str) -> list[tuple[str, str]]:
    """("message", text) and, for a long text, ("file", the whole text)."""
    whole = f"{caption}\n\n{text}" if caption else text
    if len(whole) <= MESSAGE_LIMIT:
        return [("message", whole)]
    head = text[:_PREVIEW].rstrip() + " …"
    return [("message", f"{caption}\n\n{head}" if caption else head), ("file", text)]


async def send_text_result(sender: TelegramSender, item: Item,
                           markup: telegram.InlineKeyboardMarkup | None) -> list[int]:
    """Send ``item``'s text result; the ids of every message it took."""
    caption = str(item.payload.get("caption") or "")
    units = text_units(caption, str(item.payload["text"]))
    last = len(units) - 1
    for index, (how, body) in enumerate(units):
        if index in item.progress:
            continue
        under = markup if index == last else None
        if how == "message":
            item.progress[index] = await sender.send_text(item, body, under)
            continue
        document = telegram.InputFile(body.encode("utf-8"),
                                      filename=f"result-{item.job_id}.txt")
        async with sender.gate.slot(item.chat_id, 1, item.id):
            message = await sender.bot.send_document(
                item.chat_id, document, caption=caption[:_CAPTION_LIMIT] or None,
                reply_markup=under, read_timeout=sender.media_read_timeout)
        item.progress[index] = [message.message_id]
    item.buttons_shown = markup is not None
    return item.sent_ids()
