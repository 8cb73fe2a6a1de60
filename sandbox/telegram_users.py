"""The user side: what a person does in the Telegram app, turned into bot updates.

Functions take the core and run on its loop thread. A mistake by the caller (pressing a
button that is not there, paying a message that is no invoice) raises :class:`UserError`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from sandbox.telegram_media import new_file_id, tg_media
from sandbox.telegram_model import (
    JSON,
    BotState,
    Chat,
    MessageRecord,
    command_entities,
    make_user,
)

if TYPE_CHECKING:
    from sandbox.telegram_core import EmulatorCore


class UserError(ValueError):
    """A user-side action that the Telegram app would not allow."""


GROUP_TYPES = ("group", "supergroup", "channel")


def _chat(bot: BotState, user_id: int) -> Chat:
    chat = bot.chats.get(user_id)
    if chat is None:
        raise UserError(f"user {user_id} has no chat with the bot (send_text first)")
    return chat


def _group(bot: BotState, chat_id: int, chat_type: str, title: str | None, user: JSON) -> Chat:
    """The group (or supergroup, channel) ``chat_id`` with ``user`` as a member."""
    if chat_type not in GROUP_TYPES:
        raise UserError(f"chat_type must be one of {GROUP_TYPES}")
    if chat_id >= 0:
        raise UserError("a group's chat id is negative (a positive id is a private chat)")
    chat = bot.chats.get(chat_id)
    if chat is None:
        chat = bot.chats[chat_id] = Chat(chat_id, user, type=chat_type,
                                         title=title or f"Group {-chat_id}")
    chat.members[int(user["id"])] = user
    return chat


def _member(chat: Chat, user_id: int) -> JSON:
    """Who acts in ``chat``: the user of a private chat, a member of a group."""
    if chat.type == "private":
        return chat.user
    return chat.members.get(user_id) or make_user(user_id, "Test", "en", None)


def _bot_message(chat: Chat, message_id: int) -> MessageRecord:
    rec = chat.messages.get(message_id)
    if rec is None or rec.sender != "bot" or rec.deleted:
        raise UserError(f"message {message_id} is not a visible bot message in chat {chat.id}")
    return rec


def send_text(
    core: EmulatorCore,
    bot: BotState,
    user_id: int,
    text: str,
    *,
    first_name: str = "Test",
    language_code: str = "en",
    username: str | None = None,
    chat_id: int | None = None,
    chat_type: str = "group",
    title: str | None = None,
) -> JSON:
    """The user types ``text`` in their private chat, or in the group ``chat_id`` (of
    ``chat_type``: group, supergroup, channel). Returns ``{update_id, message_id}``
    (update_id 0 if filtered)."""
    if not text:
        raise UserError("text must be non-empty")
    if chat_id is None or chat_id == user_id:
        chat = core.open_chat(bot, user_id, first_name, language_code, username)
        author = chat.user
    else:
        author = make_user(user_id, first_name, language_code, username)
        chat = _group(bot, chat_id, chat_type, title, author)
    fields: JSON = {"text": text}
    entities = command_entities(text)
    if entities:
        fields["entities"] = entities
    rec = core.add_message(bot, chat, "user", "user", fields, text=text)
    rec.tg["from"] = author  # in a group: the member who wrote, not the one who opened it
    update_id = core.push_update(bot, "message", copy.deepcopy(rec.tg))
    return {"update_id": update_id, "message_id": rec.message_id}


def send_photo(
    core: EmulatorCore,
    bot: BotState,
    user_id: int,
    data: bytes,
    *,
    caption: str | None = None,
    first_name: str = "Test",
    language_code: str = "en",
) -> JSON:
    """The user sends a photo; the bot can getFile it and download it from the file URL."""
    if not data:
        raise UserError("photo data must be non-empty")
    chat = core.open_chat(bot, user_id, first_name, language_code)
    file_id, unique_id = new_file_id("photo")
    bot.files[file_id] = {"kind": "photo", "size": len(data), "unique_id": unique_id,
                          "data": data, "path": f"photos/file_{core.serial()}.jpg"}
    fields = tg_media("photo", file_id, unique_id, len(data), None)
    if caption:
        fields["caption"] = caption
    media = {"kind": "photo", "source": "upload", "upload_size": len(data), "file_id": file_id,
             "url": f"/_user/file?file_id={file_id}"}
    rec = core.add_message(bot, chat, "user", "user", fields, text=caption, media=media)
    update_id = core.push_update(bot, "message", copy.deepcopy(rec.tg))
    return {"update_id": update_id, "message_id": rec.message_id, "file_id": file_id}


def press_button(
    core: EmulatorCore, bot: BotState, user_id: int, message_id: int, callback_data: str,
    *, chat_id: int | None = None,
) -> JSON:
    """Press an inline button currently shown on a bot message in the user's private chat,
    or (``chat_id``) in a group: any member may press any button there, as in Telegram.
    Returns ``{update_id, id}``."""
    chat = _chat(bot, user_id if chat_id is None else chat_id)
    presser = _member(chat, user_id)
    rec = _bot_message(chat, message_id)
    rows = (rec.tg.get("reply_markup") or {}).get("inline_keyboard") or []
    if not any(b.get("callback_data") == callback_data for row in rows for b in row):
        raise UserError(f"message {message_id} shows no button with data {callback_data!r}")
    query_id = str(4_000_000_000_000_000 + core.serial())
    query = {
        "id": query_id,
        "from": presser,
        "message": copy.deepcopy(rec.tg),
        "chat_instance": str(-(10**15) - chat.id),
        "data": callback_data,
    }
    update_id = core.push_update(bot, "callback_query", copy.deepcopy(query))
    bot.callback_queries[query_id] = {
        "id": query_id, "user_id": user_id, "chat_id": chat.id, "message_id": message_id,
        "data": callback_data,
        "update_id": update_id, "answered": False, "answer_text": None, "show_alert": False,
        "answer_url": None, "answered_at": None,
    }
    return {"update_id": update_id, "id": query_id}


def pay_invoice(core: EmulatorCore, bot: BotState, user_id: int, invoice_message_id: int) -> JSON:
    """Press Pay on an invoice: a pre_checkout_query update. Returns ``{update_id, id}``."""
    chat = _chat(bot, user_id)
    rec = _bot_message(chat, invoice_message_id)
    if rec.invoice is None:
        raise UserError(f"message {invoice_message_id} is not an invoice")
    query_id = str(5_000_000_000_000_000 + core.serial())
    query = {
        "id": query_id,
        "from": chat.user,
        "currency": rec.invoice["currency"],
        "total_amount": rec.invoice["total_amount"],
        "invoice_payload": rec.invoice["payload"],
    }
    update_id = core.push_update(bot, "pre_checkout_query", copy.deepcopy(query))
    bot.pre_checkouts[query_id] = {
        **query, "user_id": user_id, "invoice_message_id": invoice_message_id,
        "update_id": update_id, "answered": False, "ok": None, "error_message": None,
        "answered_at": None, "telegram_payment_charge_id": None,
    }
    return {"update_id": update_id, "id": query_id}


def replay_payment(core: EmulatorCore, bot: BotState, charge_id: str) -> int:
    """Deliver the same successful_payment message again under a new update_id."""
    payment = bot.payments.get(charge_id)
    if payment is None:
        raise UserError("unknown telegram_payment_charge_id")
    update_id = core.push_update(bot, "message", copy.deepcopy(payment["message"]), force=True)
    payment["update_ids"].append(update_id)
    return update_id


def messages(bot: BotState, chat_id: int, include_user: bool = False,
             after: int = 0) -> list[JSON]:
    """The chat's messages in order (bot's only unless ``include_user``; only those with a
    message_id above ``after``: a copy costs, and a long chat is copied often), each {message_id,
    sender "bot"|"user", method, date, sent_at (unix float), text (as sent, markup kept),
    plain_text, parse_mode, reply_markup (as sent), media {kind, source url|upload|file_id, url,
    upload_size, file_id, filename[, fetched_size]; a user's file: mime_type, file_path} |
    null, media_group_id, invoice {title, description, payload, currency, prices,
    total_amount} | null, edits [{at, method, text, parse_mode, reply_markup, previous_text,
    previous_reply_markup}], deleted, message (the current Telegram Message object)}."""
    chat = bot.chats.get(chat_id)
    if chat is None:
        return []
    return [r.public() for r in chat.messages.values()
            if r.message_id > after and (include_user or r.sender == "bot")]


def count(bot: BotState, chat_id: int) -> int:
    """How many messages the bot has sent to the chat (no copies)."""
    chat = bot.chats.get(chat_id)
    return 0 if chat is None else sum(r.sender == "bot" for r in chat.messages.values())


def set_blocked(core: EmulatorCore, bot: BotState, user_id: int, blocked: bool) -> None:
    """The user blocks (or unblocks) the bot: sends to the chat answer 403."""
    if blocked:
        bot.blocked.add(user_id)
    else:
        bot.blocked.discard(user_id)
