"""The emulated Telegram's state: configuration, bots, chats, recorded messages, update queue.

Everything here is touched only on the emulator's event-loop thread (the facade in
``telegram_emulator`` marshals calls from other threads), so nothing here takes a lock.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

JSON = dict[str, Any]
MB = 1024 * 1024

#: Update types Telegram delivers when ``allowed_updates`` was never set (or set to []).
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class ApiError(Exception):
    """A Telegram-shaped failure: becomes ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        """The JSON body Telegram would answer with."""
        out: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


def bad_request(reason: str) -> ApiError:
    """A 400 with Telegram's ``Bad Request: `` prefix."""
    return ApiError(400, f"Bad Request: {reason}")


@dataclass
class EmulatorConfig:
    """Tunable behaviour; change at run time with ``configure()`` / POST /_control/config."""

    flood_limits: bool = True
    """Enforce the flood limits below (429 with retry_after on violation)."""
    global_per_second: int = 30
    """Accepted sends+edits per bot within any ``flood_window`` seconds, all chats together."""
    per_chat_per_second: int = 1
    """A private chat's sustained rate: accepted sends+edits per ``flood_window`` seconds, over
    time (a token bucket refilling at this rate, see ``per_chat_burst``)."""
    per_chat_burst: int = 3
    """... and its bucket: this many sends may go at once into a private chat ("we may allow
    short bursts that go over this limit, but eventually you'll begin receiving 429 errors")."""
    group_per_minute: int = 20
    """Accepted sends+edits per group (negative chat id) within any 60 s."""
    flood_window: float = 1.0
    """Sliding window length in seconds for the bot-wide limit; the per-chat bucket refills
    ``per_chat_per_second`` tokens per window."""
    fetch_urls: bool = False
    """Download media given by URL and fail like Telegram when unreachable or too big."""
    fetch_timeout: float = 10.0
    """Seconds allowed for such a download."""
    photo_url_limit: int = 5 * MB
    other_url_limit: int = 20 * MB
    photo_upload_limit: int = 10 * MB
    other_upload_limit: int = 50 * MB
    download_limit: int = 20 * MB
    """getFile refuses bigger files (``file is too big``): the cloud Bot API's limit."""
    strict_chats: bool = True
    """Sending to a chat the user never opened -> 400 ``chat not found`` (as Telegram)."""
    validate_parse_mode: bool = True
    """Reject malformed HTML / MarkdownV2 / Markdown with ``can't parse entities``."""
    max_poll_timeout: float = 50.0
    """Upper bound on a getUpdates ``timeout`` (Telegram caps it at 50 s)."""

    def update(self, values: JSON) -> None:
        """Apply known keys (coerced to the field's type); an unknown key raises ValueError."""
        types = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        for key, value in values.items():
            if key not in types:
                raise ValueError(f"unknown config key {key!r}")
            kind = types[key]
            if kind is bool and isinstance(value, str):
                value = value.lower() in ("1", "true", "yes", "on")
            setattr(self, key, kind(value))

    def as_dict(self) -> JSON:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class MessageRecord:
    """One message in a chat, as recorded for assertions (bot's or user's)."""

    message_id: int
    sender: str
    """``"bot"`` or ``"user"``."""
    method: str
    """Bot API method that created it (``sendPhoto``...), or ``"user"``."""
    date: int
    sent_at: float
    """Unix time (float) when it was accepted."""
    tg: JSON
    """The current Telegram ``Message`` object (what PTB receives)."""
    text: str | None = None
    """Text or caption exactly as the bot sent it (markup not stripped)."""
    parse_mode: str | None = None
    reply_markup: JSON | None = None
    media: JSON | None = None
    """``{kind, source: url|upload|file_id, url, upload_size, file_id, filename}``."""
    media_group_id: str | None = None
    invoice: JSON | None = None
    edits: list[JSON] = field(default_factory=list)
    """Edits, oldest first: ``{at, method, text, parse_mode, reply_markup, previous_text,
    previous_reply_markup}`` (text None for a markup-only edit)."""
    deleted: bool = False

    def public(self) -> JSON:
        """A JSON-safe deep copy for tests and the /_user API."""
        out = {
            "message_id": self.message_id,
            "sender": self.sender,
            "method": self.method,
            "date": self.date,
            "sent_at": self.sent_at,
            "text": self.text,
            "plain_text": self.tg.get("text", self.tg.get("caption")),
            "parse_mode": self.parse_mode,
            "reply_markup": self.reply_markup,
            "media": self.media,
            "media_group_id": self.media_group_id,
            "invoice": self.invoice,
            "edits": self.edits,
            "deleted": self.deleted,
            "message": self.tg,
        }
        return copy.deepcopy(out)


@dataclass
class Chat:
    """A chat with the bot. Private: its id equals the user's id. A group, supergroup or
    channel has an id of its own (negative, as in Telegram), a title and members (``user`` is
    then the member who opened it). Message ids are per chat, as in Telegram."""

    id: int
    user: JSON
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    next_message_id: int = 1
    send_times: list[float] = field(default_factory=list)
    """Monotonic times of accepted sends/edits (what the flood limits count)."""
    actions: list[str] = field(default_factory=list)
    """sendChatAction actions received, in order."""
    type: str = "private"
    """private | group | supergroup | channel."""
    title: str = ""
    members: dict[int, JSON] = field(default_factory=dict)
    """Group members who wrote or pressed something: user id -> Telegram user."""

    def tg_chat(self) -> JSON:
        if self.type != "private":
            return {"id": self.id, "type": self.type, "title": self.title}
        out: JSON = {"id": self.id, "type": "private", "first_name": self.user["first_name"]}
        if self.user.get("username"):
            out["username"] = self.user["username"]
        return out

    def take_message_id(self) -> int:
        mid = self.next_message_id
        self.next_message_id += 1
        return mid


def make_user(user_id: int, first_name: str, language_code: str, username: str | None) -> JSON:
    user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


@dataclass
class BotState:
    """Everything Telegram keeps for one bot token."""

    token: str
    bot_id: int
    username: str
    first_name: str = "Emulated Bot"
    pending: deque[JSON] = field(default_factory=deque)
    """Unconfirmed updates, ascending update_id."""
    allowed_updates: list[str] | None = None
    waiter: asyncio.Future[str] | None = None
    """The waiting getUpdates long poll, if any (resolved with update/conflict/shutdown)."""
    commands: list[JSON] = field(default_factory=list)
    chats: dict[int, Chat] = field(default_factory=dict)
    callback_queries: dict[str, JSON] = field(default_factory=dict)
    pre_checkouts: dict[str, JSON] = field(default_factory=dict)
    payments: dict[str, JSON] = field(default_factory=dict)
    """By telegram_payment_charge_id: ``{update, refunded, user_id, ...}``."""
    files: dict[str, JSON] = field(default_factory=dict)
    """By file_id: ``{kind, size, data (user uploads only), path}``."""
    blocked: set[int] = field(default_factory=set)
    """Chat ids of users who blocked the bot (sends -> 403)."""
    delivered_updates: int = 0
    polls_in_flight: int = 0
    """getUpdates calls being answered now (a long poll whose client went away has ended)."""
    poll_overlaps: int = 0
    """getUpdates calls that arrived while another of this bot was in flight."""
    next_update_id: int = 1
    """Each bot has its own update id sequence, as on Telegram (the core picks the start)."""
    webhook: JSON | None = None
    """``{url, secret_token, max_connections, allowed_updates}`` while a webhook is set:
    getUpdates answers 409 and updates stay pending (this emulator never POSTs to it)."""

    def user_dict(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def accepts(self, update_type: str) -> bool:
        """Telegram filters updates by ``allowed_updates`` when it creates them."""
        if not self.allowed_updates:
            return update_type not in DEFAULT_EXCLUDED_UPDATES
        return update_type in self.allowed_updates

    def take_update_id(self) -> int:
        update_id = self.next_update_id
        self.next_update_id += 1
        return update_id

    def wake(self, reason: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(reason)

    def confirm(self, offset: int) -> None:
        """Apply getUpdates ``offset``: forget confirmed updates (negative: keep the last -N)."""
        if offset < 0:
            while len(self.pending) > -offset:
                self.pending.popleft()
            return
        while self.pending and self.pending[0]["update_id"] < offset:
            self.pending.popleft()


def bot_id_from_token(token: str, index: int) -> int:
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else 7_000_000_000 + index


def first_update_id() -> int:
    """Where a fresh emulator starts numbering updates: Telegram never restarts a bot's
    sequence at 1, and a client may hold ids from an earlier run of this emulator. The start
    moves 1,000 ids per second of wall time (a run creating fewer never overlaps the next
    run's ids) and wraps after ~24 days, staying a positive 31-bit number as Telegram's."""
    return int(time.time() * 1000) % 2_000_000_000 + 1


def now_times() -> tuple[int, float, float]:
    """(Telegram ``date``, unix float, monotonic) for one event."""
    wall = time.time()
    return int(wall), wall, time.monotonic()


def utf16_len(text: str) -> int:
    """Telegram entity offsets and lengths count UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[JSON]:
    """``bot_command`` entities for every ``/word`` at the start of a whitespace-split token."""
    entities: list[JSON] = []
    pos = 0
    for token in text.split(" "):
        start = pos
        pos += len(token) + 1
        word = token.split("\n", 1)[0]
        if len(word) > 1 and word.startswith("/") and (word[1].isalnum() or word[1] == "_"):
            entities.append(
                {
                    "type": "bot_command",
                    "offset": utf16_len(text[:start]),
                    "length": utf16_len(word),
                }
            )
    return entities
