"""Bot API methods: identity, updates, commands, text messages, edits, callbacks, media, files.

Each coroutine takes ``(core, bot, params)`` and returns the ``result`` value or raises
ApiError. Payments live in ``telegram_payments``. Results are deep copies so a later edit
never changes an answer already handed out.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from typing import TYPE_CHECKING, Any

from sandbox.telegram_files import check_download_size
from sandbox.telegram_markup import check_reply_markup, render
from sandbox.telegram_media import (
    MEDIA_METHODS,
    check_group_kinds,
    media_kind_of_group_item,
    resolve,
)
from sandbox.telegram_model import (
    JSON,
    ApiError,
    BotState,
    Chat,
    MessageRecord,
    bad_request,
    now_times,
)
from sandbox.telegram_params import Params
from sandbox.telegram_registry import Impl, bot_method
from sandbox.telegram_webhook import WEBHOOK_ACTIVE

if TYPE_CHECKING:
    from sandbox.telegram_core import EmulatorCore

CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)


@bot_method("getMe")
async def get_me(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
    return bot.user_dict()


@bot_method("getUpdates")
async def get_updates(core: EmulatorCore, bot: BotState, p: Params) -> list[JSON]:
    """Long poll. A newer getUpdates terminates an older waiting one with 409, as Telegram;
    while a webhook is set, 409 ``WEBHOOK_ACTIVE`` (telegram_webhook). One that arrives while
    another of the bot is in flight (waiting, or not yet answered) counts in
    ``bot.poll_overlaps``: two pollers of one token at once."""
    if bot.polls_in_flight:
        bot.poll_overlaps += 1
    bot.polls_in_flight += 1
    try:
        return await _long_poll(core, bot, p)
    finally:
        bot.polls_in_flight -= 1
        core.on_change()


async def _long_poll(core: EmulatorCore, bot: BotState, p: Params) -> list[JSON]:
    if bot.webhook is not None:
        raise ApiError(409, WEBHOOK_ACTIVE)
    offset = p.integer("offset")
    limit = min(max(p.integer("limit", 100) or 100, 1), 100)
    timeout = min(max(p.number("timeout"), 0.0), core.config.max_poll_timeout)
    allowed = p.obj("allowed_updates")
    if allowed is not None:
        bot.allowed_updates = [str(a) for a in allowed] or None
    bot.wake("conflict")
    if offset is not None:
        bot.confirm(offset)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if bot.pending:
            batch = list(itertools.islice(bot.pending, limit))
            bot.delivered_updates += len(batch)
            return copy.deepcopy(batch)
        remaining = deadline - loop.time()
        if remaining <= 0:
            return []
        waiter: asyncio.Future[str] = loop.create_future()
        bot.waiter = waiter
        core.on_change()
        try:
            reason = await asyncio.wait_for(waiter, remaining)
        except TimeoutError:
            return []
        finally:
            if bot.waiter is waiter:
                bot.waiter = None
        if reason == "conflict":
            raise ApiError(409, CONFLICT)
        if reason == "webhook":
            raise ApiError(409, WEBHOOK_ACTIVE)
        if reason == "shutdown":
            return []


@bot_method("setMyCommands")
async def set_my_commands(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    commands = p.obj("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    for c in commands:
        name = c.get("command", "") if isinstance(c, dict) else ""
        if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name.islower()):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(c.get("description", "")) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    bot.commands = copy.deepcopy(commands)
    return True


@bot_method("getMyCommands")
async def get_my_commands(core: EmulatorCore, bot: BotState, p: Params) -> list[JSON]:
    return copy.deepcopy(bot.commands)


@bot_method("deleteMyCommands")
async def delete_my_commands(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    bot.commands = []
    return True


@bot_method("sendMessage")
async def send_message(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
    chat = core.chat_for_send(bot, p.chat_id())
    text = p.text("text") or ""
    if not text:
        raise bad_request("message text is empty")
    parse_mode = p.text("parse_mode")
    plain = render(text, parse_mode, validate=core.config.validate_parse_mode)
    markup = p.obj("reply_markup")
    inline = check_reply_markup(markup)
    fields: JSON = {"text": plain}
    if inline:
        fields["reply_markup"] = inline
    rec = core.add_message(
        bot, chat, "bot", "sendMessage", fields, text=text, parse_mode=parse_mode,
        reply_markup=markup,
    )
    return copy.deepcopy(rec.tg)


def _target(bot: BotState, p: Params, verb: str) -> tuple[Chat, MessageRecord]:
    if p.has("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = bot.chats.get(p.chat_id())
    if chat is None:
        raise bad_request("chat not found")
    rec = chat.messages.get(p.req_int("message_id"))
    if rec is None or rec.deleted:
        raise bad_request(f"message to {verb} not found")
    if verb == "edit" and rec.sender != "bot":
        raise bad_request("message can't be edited")
    return chat, rec


def _edit(rec: MessageRecord, method: str, changes: JSON, text: str | None, pm: str | None,
          markup: JSON | None) -> JSON:
    """Apply an edit: refuse a no-op like Telegram, keep history, return the new Message."""
    new = {k: v for k, v in rec.tg.items() if k not in ("reply_markup", "edit_date")}
    for key, value in changes.items():
        if value is None:
            new.pop(key, None)
        else:
            new[key] = value
    inline = check_reply_markup(markup)
    if inline:
        new["reply_markup"] = inline
    old = {k: v for k, v in rec.tg.items() if k != "edit_date"}
    if new == old:
        raise bad_request(NOT_MODIFIED)
    date, wall, _ = now_times()
    new["edit_date"] = date
    rec.edits.append(
        {"at": wall, "method": method, "text": text, "parse_mode": pm, "reply_markup": markup,
         "previous_text": rec.text, "previous_reply_markup": rec.reply_markup}
    )
    rec.tg = new
    if text is not None:
        rec.text, rec.parse_mode = text, pm
    rec.reply_markup = markup
    return copy.deepcopy(new)


@bot_method("editMessageText")
async def edit_message_text(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
    _, rec = _target(bot, p, "edit")
    if "text" not in rec.tg:
        raise bad_request("there is no text in the message to edit")
    text = p.text("text") or ""
    if not text:
        raise bad_request("message text is empty")
    pm = p.text("parse_mode")
    plain = render(text, pm, validate=core.config.validate_parse_mode)
    return _edit(rec, "editMessageText", {"text": plain}, text, pm, p.obj("reply_markup"))


@bot_method("editMessageCaption")
async def edit_message_caption(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
    _, rec = _target(bot, p, "edit")
    if rec.media is None:
        raise bad_request("there is no caption in the message to edit")
    caption = p.text("caption") or ""
    pm = p.text("parse_mode")
    plain = render(caption, pm, validate=core.config.validate_parse_mode, caption=True)
    changes = {"caption": plain or None}
    return _edit(rec, "editMessageCaption", changes, caption, pm, p.obj("reply_markup"))


@bot_method("editMessageReplyMarkup")
async def edit_message_reply_markup(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
    _, rec = _target(bot, p, "edit")
    return _edit(rec, "editMessageReplyMarkup", {}, None, None, p.obj("reply_markup"))


@bot_method("deleteMessage")
async def delete_message(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    _, rec = _target(bot, p, "delete")
    rec.deleted = True
    return True


@bot_method("answerCallbackQuery")
async def answer_callback_query(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    query = bot.callback_queries.get(p.req_str("callback_query_id"))
    if query is None or query["answered"]:
        raise bad_request(QUERY_INVALID)
    text = p.text("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.update(answered=True, answer_text=text, show_alert=p.flag("show_alert"),
                 answer_url=p.text("url"), answered_at=now_times()[1])
    return True


@bot_method("sendChatAction")
async def send_chat_action(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    chat = core.chat_for_send(bot, p.chat_id())
    if p.text("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat.actions.append(str(p.text("action")))
    return True


def _media_sender(kind: str) -> Impl:
    async def send_media(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
        chat = core.chat_for_send(bot, p.chat_id())
        caption = p.text("caption")
        pm = p.text("parse_mode")
        plain = render(caption, pm, validate=core.config.validate_parse_mode, caption=True)\
            if caption else None
        markup = p.obj("reply_markup")
        inline = check_reply_markup(markup)
        media, fields = await resolve(bot, kind, p.raw(kind), p.uploads, kind, core.config)
        if plain:
            fields["caption"] = plain
        if inline:
            fields["reply_markup"] = inline
        method = f"send{kind.capitalize()}"
        rec = core.add_message(bot, chat, "bot", method, fields, text=caption, parse_mode=pm,
                               reply_markup=markup, media=media)
        return copy.deepcopy(rec.tg)

    return send_media


for _lower, _kind in MEDIA_METHODS.items():
    bot_method(f"send{_kind.capitalize()}")(_media_sender(_kind))


@bot_method("sendMediaGroup")
async def send_media_group(core: EmulatorCore, bot: BotState, p: Params) -> list[JSON]:
    chat = core.chat_for_send(bot, p.chat_id())
    items = p.obj("media")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise bad_request("can't parse media JSON object")
    kinds = [media_kind_of_group_item(i) for i in items]
    check_group_kinds(kinds)
    prepared: list[tuple[JSON, JSON, str | None, str | None]] = []
    for item, kind in zip(items, kinds, strict=True):
        caption, pm = item.get("caption"), item.get("parse_mode")
        plain = render(caption, pm, validate=core.config.validate_parse_mode, caption=True)\
            if caption else None
        media, fields = await resolve(bot, kind, item.get("media"), p.uploads, "", core.config)
        if plain:
            fields["caption"] = plain
        prepared.append((media, fields, caption, pm))
    group_id = str(13_000_000_000_000 + core.serial())
    out: list[Any] = []
    for media, fields, caption, pm in prepared:
        fields["media_group_id"] = group_id
        rec = core.add_message(bot, chat, "bot", "sendMediaGroup", fields, text=caption,
                               parse_mode=pm, media=media, media_group_id=group_id)
        out.append(copy.deepcopy(rec.tg))
    return out


@bot_method("getFile")
async def get_file(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
    file_id = p.req_str("file_id")
    known = bot.files.get(file_id) or bot.files.get(file_id.removesuffix("_s"))
    if known is None:
        raise bad_request("wrong file_id or the file is temporarily unavailable")
    check_download_size(core.config, known)
    if not known.get("path"):
        known["path"] = f"{known['kind']}s/file_{core.serial()}"
    out: JSON = {"file_id": file_id, "file_unique_id": known["unique_id"],
                 "file_path": known["path"]}
    if known.get("size") is not None:
        out["file_size"] = known["size"]
    return out
