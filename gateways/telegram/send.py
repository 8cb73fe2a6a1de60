"""The Bot API calls of delivery: one outbox row in, Telegram's message ids out.

Every counted call (sends and edits) goes through the :class:`~gateways.telegram.pacer.SendGate`;
answers to callback and pre-checkout queries do not (Telegram does not count them, and a
user waiting on a spinner should not wait behind a backlog).

Results are sent by URL first. When Telegram cannot fetch the URL or finds it too big
(photos > 5 MB, other files > 20 MB by URL), the file is downloaded here (≤ 50 MB, streamed)
and uploaded — photos over Telegram's 10 MB upload limit as documents; when that fails too,
the result goes out as a text link. Media sends wait ``media_read_timeout`` for Telegram's
answer (fetching a big file takes it a while), so a timeout is rare; a part whose send timed
out after the whole request went out (:func:`maybe_sent`) is most likely in the chat: it is
recorded in ``Item.maybe_sent`` and never sent again. When delivery gives up on the rest of a
result that already partly reached the chat, ``Item.as_links`` sends the remaining parts as
links in one message. Errors are raised as PTB's own exceptions; the caller decides with
:func:`classify`. Nothing here touches the database.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice
from telegram.error import (
    BadRequest,
    TimedOut,
)

from gateways.telegram.download import DownloadFailed, download, file_name
from gateways.telegram.pacer import SendGate
from gateways.telegram.send_errors import Verdict, classify, maybe_sent
from gateways.telegram.send_stored import STORED_KINDS, file_of, send_stored
from gateways.telegram.text_result import send_text_result
from trt_actors import texts

MB = 1024 * 1024
PHOTO_UPLOAD_LIMIT = 10 * MB
GROUP_MAX = 10

_MEDIA_PROBLEM = re.compile(
    r"wrong file identifier|http url|failed to get|wrong type of the web page|webpage_curl_failed"
    r"|webpage_media_empty|wrong remote file|file is too big", re.IGNORECASE)
_NOT_MODIFIED = re.compile(r"message is not modified", re.IGNORECASE)
_EDIT_TARGET_GONE = re.compile(
    r"message to edit not found|message can't be edited|message_id_invalid", re.IGNORECASE)


@dataclass(slots=True)
class Item:
    """One claimed outbox row, plus what delivery learns about it while it is in memory."""

    id: int
    chat_id: int
    job_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int
    message_ids: list[int] | None
    priority: int = 1
    """Its class at the send gate (``outbox.priority``: 0 answers, 1 results, 2 progress
    edits, 3 broadcasts); the head of a chat's queue takes the most urgent of its queue."""
    progress: dict[int, list[int]] = field(default_factory=dict)
    """Result units already sent (unit index -> message ids), kept across in-memory retries."""
    lang: str = "en"
    maybe_sent: list[str] = field(default_factory=list)
    """URLs of result parts whose send timed out after Telegram had the request."""
    as_links: bool = False
    """Delivery gave up sending the rest of a partly delivered result as media: links now."""
    buttons_shown: bool = False
    """The result's buttons went under its last part (else they follow in a short text)."""
    spent: int = 0
    """Attempts used before ``as_links`` (the links message gets a retry budget of its own)."""
    files: list[dict[str, Any]] = field(default_factory=list)  # parts' file_ids (send_stored)

    @property
    def counted(self) -> bool:
        return self.kind not in ANSWER_KINDS

    @property
    def reached(self) -> bool:
        """Some part of this result reached the chat (or most likely did)."""
        return self.kind in RESULT_KINDS and bool(self.progress)

    def sent_ids(self) -> list[int]:
        return [mid for index in sorted(self.progress) for mid in self.progress[index]]


ANSWER_KINDS = frozenset({"answer_callback", "answer_precheckout", "refund_stars"})
RESULT_KINDS = frozenset({"result", "resend"})
"""A job's media: ``result`` settles the job; ``resend`` is a copy the user asked for."""


def keyboard(rows: Sequence[Sequence[dict[str, Any]]] | None) -> InlineKeyboardMarkup | None:
    """``[[{"label", "data"|"url"}]]`` -> an inline keyboard (None when empty)."""
    if not rows:
        return None
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(b["label"], url=b["url"]) if b.get("url")
         else InlineKeyboardButton(b["label"], callback_data=b["data"]) for b in row]
        for row in rows if row])


_SENDERS = {"image": "photo", "video": "video", "audio": "audio"}
_INPUT_MEDIA = {"photo": telegram.InputMediaPhoto, "video": telegram.InputMediaVideo,
                "audio": telegram.InputMediaAudio, "document": telegram.InputMediaDocument}


class TelegramSender:
    """The calls for each outbox kind, paced by ``gate``; raises PTB exceptions."""

    def __init__(self, bot: telegram.Bot, gate: SendGate, *, download_limit: int = 50 * MB,
                 download_timeout: float = 60.0, media_read_timeout: float = 60.0) -> None:
        self.bot, self.gate = bot, gate
        self.download_limit, self.download_timeout = download_limit, download_timeout
        self.media_read_timeout = media_read_timeout

    # --- messages ------------------------------------------------------------------------------

    async def send_text(self, item: Item, text: str, markup: Any = None) -> list[int]:
        async with self.gate.slot(item.chat_id, 1, item.id, item.priority):
            message = await self.bot.send_message(item.chat_id, text, reply_markup=markup)
        return [message.message_id]

    async def edit_text(self, item: Item, message_id: int, text: str,
                        markup: Any = None) -> list[int] | None:
        """Edit; the edited id, or None when the message is gone (send a new one instead)."""
        try:
            async with self.gate.slot(item.chat_id, 1, item.id, item.priority):
                await self.bot.edit_message_text(text, item.chat_id, message_id,
                                                 reply_markup=markup)
        except BadRequest as exc:
            if _NOT_MODIFIED.search(exc.message):
                return [message_id]  # already shows this text: the edit's goal is met
            if _EDIT_TARGET_GONE.search(exc.message):
                return None
            raise
        return [message_id]

    async def text(self, item: Item) -> list[int]:
        payload = item.payload
        markup = keyboard(payload.get("buttons"))
        target = payload.get("edit_message_id")
        if target:
            edited = await self.edit_text(item, int(target), payload["text"], markup)
            if edited is not None:
                return edited
        return await self.send_text(item, payload["text"], markup)

    async def status_edit(self, item: Item, target: int | None) -> list[int]:
        """Edit the job's progress message; a new message when it never reached the chat."""
        if target is not None:
            edited = await self.edit_text(item, target, item.payload["text"])
            if edited is not None:
                return edited
        return await self.send_text(item, item.payload["text"])

    async def invoice(self, item: Item) -> list[int]:
        p = item.payload
        async with self.gate.slot(item.chat_id, 1, item.id, item.priority):
            # Stars: currency XTR, one price, and no provider token at all (an empty one is
            # still "a provider token" to a strict server).
            message = await self.bot.send_invoice(
                item.chat_id, p["title"], p["description"], p["payload"], "XTR",
                [LabeledPrice(p["title"], int(p["stars"]))])
        return [message.message_id]

    async def answer_callback(self, item: Item) -> list[int]:
        p = item.payload
        await self.bot.answer_callback_query(p["callback_query_id"], text=p.get("text"),
                                             show_alert=bool(p.get("show_alert", False)))
        return []

    async def answer_precheckout(self, item: Item) -> list[int]:
        p = item.payload
        await self.bot.answer_pre_checkout_query(
            p["query_id"], bool(p["ok"]), error_message=None if p["ok"] else
            (p.get("error_message") or "This offer has expired."))
        return []

    async def refund_stars(self, item: Item) -> list[int]:
        """``refundStarPayment`` of a top-up an admin refunded (its credits were reversed in
        the same transaction that queued this row; see ``domain.admin``)."""
        p = item.payload
        await self.bot.refund_star_payment(int(p["user_id"]), str(p["charge_id"]))
        return []

    # --- results -------------------------------------------------------------------------------

    async def result(self, item: Item) -> list[int]:
        """Every URL of the job, as the right media (a text result: :mod:`text_result`);
        units already sent are skipped."""
        if item.payload.get("text"):  # a transcript, not a file (speech-to-text)
            return await send_text_result(self, item, keyboard(item.payload.get("buttons")))
        urls = [str(u) for u in item.payload.get("urls") or []]
        caption = item.payload.get("caption") or None
        media = _SENDERS.get(str(item.payload.get("result_kind")), "document")
        units: list[list[str]] = []
        if media == "photo" and len(urls) >= 2:
            units = [urls[i:i + GROUP_MAX] for i in range(0, len(urls), GROUP_MAX)]
        else:
            units = [[u] for u in urls]
        if not units:
            return await self.send_text(item, caption or "—")
        # The "next step" buttons go under the last part; an album takes no keyboard, so
        # under one they follow in a short text (its own unit: never sent twice).
        markup = keyboard(item.payload.get("buttons"))
        last = len(units) - 1
        if item.as_links:
            await self._links(item, units, caption, markup)
        for index, unit in enumerate(units):
            if index in item.progress:
                continue
            text = caption if index == 0 else None
            under = markup if index == last else None
            try:
                if len(unit) == 1:
                    item.progress[index] = await self._single(item, media, unit[0], text, under)
                    item.buttons_shown |= under is not None
                else:
                    item.progress[index] = await self._group(item, media, unit, text)
            except TimedOut as exc:
                if not maybe_sent(exc):
                    raise
                # Most likely in the chat: never sent again unasked (the user gets a button).
                item.progress[index] = []
                item.maybe_sent.extend(unit)
                item.buttons_shown |= under is not None and len(unit) == 1  # most likely too
        if markup is not None and not item.buttons_shown and len(units) not in item.progress:
            text = str(item.payload.get("buttons_text") or "…")
            item.progress[len(units)] = await self.send_text(item, text, markup)
        return item.sent_ids()

    async def _links(self, item: Item, units: list[list[str]], caption: str | None,
                     markup: Any = None) -> None:
        """The parts not sent yet, as links in one message (with the buttons if it ends the
        result)."""
        left = [i for i in range(len(units)) if i not in item.progress]
        if not left:
            return
        text = texts.result_links(item.lang, [u for i in left for u in units[i]])
        if 0 in left and caption:
            text = f"{caption}\n{text}"
        under = markup if len(units) - 1 in left else None
        ids = await self.send_text(item, text, under)
        item.buttons_shown |= under is not None
        for i in left:
            item.progress[i] = ids if i == left[0] else []

    async def _group(self, item: Item, media: str, urls: list[str],
                     caption: str | None) -> list[int]:
        make = _INPUT_MEDIA[media]
        group = [make(url, caption=caption if i == 0 else None) for i, url in enumerate(urls)]
        try:
            async with self.gate.slot(item.chat_id, len(group), item.id, item.priority):
                messages = await self.bot.send_media_group(
                    item.chat_id, group, read_timeout=self.media_read_timeout)
            item.files += [f for i, m in enumerate(messages)
                           if (f := file_of(m, len(item.files) + i))]
            return [m.message_id for m in messages]
        except BadRequest as exc:
            if classify(exc) is not Verdict.REJECTED:
                raise
        # One of them could not go by URL: send them one by one, each with its own fallback.
        ids: list[int] = []
        for i, url in enumerate(urls):
            ids += await self._single(item, media, url, caption if i == 0 else None)
        return ids

    async def _single(self, item: Item, media: str, url: str, caption: str | None,
                      markup: Any = None) -> list[int]:
        try:
            return [await self._send_media(item, media, url, caption, markup)]
        except BadRequest as exc:
            if classify(exc) is not Verdict.REJECTED:
                raise
            by_url_error = exc
        if _MEDIA_PROBLEM.search(by_url_error.message):
            try:
                data = await asyncio.to_thread(download, url, limit=self.download_limit,
                                               timeout=self.download_timeout)
            except DownloadFailed:
                pass
            else:
                upload_as = "document" if media == "photo" and len(data) > PHOTO_UPLOAD_LIMIT \
                    else media
                try:
                    file = telegram.InputFile(data, filename=file_name(url, f"result.{media}"))
                    return [await self._send_media(item, upload_as, file, caption, markup)]
                except BadRequest as exc:
                    if classify(exc) is not Verdict.REJECTED:
                        raise
        link = texts.result_link(item.lang, url)
        return await self.send_text(item, f"{caption}\n{link}" if caption else link, markup)

    async def _send_media(self, item: Item, media: str, what: Any, caption: str | None,
                          markup: Any = None) -> int:
        send = getattr(self.bot, f"send_{media}")
        async with self.gate.slot(item.chat_id, 1, item.id, item.priority):
            message = await send(item.chat_id, what, caption=caption, reply_markup=markup,
                                 read_timeout=self.media_read_timeout)
        item.files += [f] if (f := file_of(message, len(item.files))) else []
        return int(message.message_id)

    async def send(self, item: Item, status_target: int | None = None) -> list[int]:
        """Deliver ``item`` by its kind; Telegram's message ids (none for answers)."""
        match item.kind:
            case "text" | "status":
                return await self.text(item)
            case "status_edit":
                return await self.status_edit(item, status_target)
            case "result" | "resend":
                return await self.result(item)
            case "invoice":
                return await self.invoice(item)
            case "answer_callback":
                return await self.answer_callback(item)
            case "answer_precheckout":
                return await self.answer_precheckout(item)
            case "refund_stars":
                return await self.refund_stars(item)
            case kind if kind in STORED_KINDS:  # broadcast, history: by file_id
                return await send_stored(self, item)
        raise UnknownKind(item.kind)


class UnknownKind(BadRequest):
    """An outbox kind this version does not know how to send (rejected, never retried)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown outbox kind {kind!r}")
