"""The emulator's engine: bots, the call pipeline (token, faults, block, flood, method), stats.

Runs on the emulator's event-loop thread only. The pipeline for one Bot API call:
unknown token -> 401; unknown method -> 404; injected fault; blocked user -> 403;
flood limit -> 429; then the method itself (which may answer 400).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox import (  # noqa: F401  (they register methods)
    telegram_methods,
    telegram_payments,
    telegram_webhook,
)
from sandbox.telegram_faults import FaultInjector, FaultSpec
from sandbox.telegram_flood import COUNTED_METHODS, FloodLimiter, max_in_window
from sandbox.telegram_model import (
    JSON,
    ApiError,
    BotState,
    Chat,
    EmulatorConfig,
    MessageRecord,
    bad_request,
    bot_id_from_token,
    first_update_id,
    make_user,
    now_times,
)
from sandbox.telegram_params import Params
from sandbox.telegram_registry import METHODS, canonical_name

BLOCKED = "Forbidden: bot was blocked by the user"


@dataclass
class Outcome:
    """What the HTTP layer does: answer ``status``/``body`` (None: drop) after ``delay`` s."""

    status: int
    body: JSON | None
    delay: float = 0.0


class EmulatorCore:
    """All bots of one emulator plus shared config, flood limiter, faults and counters."""

    def __init__(self, tokens: Iterable[str], seed: int, config: EmulatorConfig,
                 next_update_id: int | None = None) -> None:
        self.config = config
        self.seed = seed
        self.bots: dict[str, BotState] = {}
        start = first_update_id() if next_update_id is None else next_update_id
        for index, token in enumerate(tokens):
            bot_id = bot_id_from_token(token, index)
            self.bots[token] = BotState(token, bot_id, f"emu{index or ''}_bot",
                                        next_update_id=start)
        if not self.bots:
            raise ValueError("at least one bot token is required")
        self.default_token = next(iter(self.bots))
        self.flood = FloodLimiter(config)
        self.faults = FaultInjector(seed)
        self.rng = random.Random(seed)
        self._serial = itertools.count(1)
        self.on_change: Callable[[], None] = lambda: None
        """Called after anything a waiting test may look at changed (set by the facade)."""

    # ----- lookups -------------------------------------------------------------------------

    def bot(self, token: str | None) -> BotState:
        if token is None:
            return self.bots[self.default_token]
        try:
            return self.bots[token]
        except KeyError:
            raise ValueError("unknown bot token") from None

    def serial(self) -> int:
        """A process-unique number for ids (callback query ids, charge ids, groups)."""
        return next(self._serial)

    def chat_for_send(self, bot: BotState, chat_id: int) -> Chat:
        chat = bot.chats.get(chat_id)
        if chat is None:
            if self.config.strict_chats:
                raise bad_request("chat not found")
            chat = self.open_chat(bot, chat_id)
        return chat

    def open_chat(
        self,
        bot: BotState,
        user_id: int,
        first_name: str = "User",
        language_code: str = "en",
        username: str | None = None,
    ) -> Chat:
        """Create (or refresh the user's profile in) the private chat with ``user_id``."""
        user = make_user(user_id, first_name, language_code, username)
        chat = bot.chats.get(user_id)
        if chat is None:
            chat = bot.chats[user_id] = Chat(user_id, user)
        else:
            chat.user = user
        return chat

    # ----- updates and messages ------------------------------------------------------------

    def push_update(self, bot: BotState, kind: str, payload: Any, *, force: bool = False) -> int:
        """Queue ``{update_id, kind: payload}``; its id, or 0 if allowed_updates drops it."""
        if not force and not bot.accepts(kind):
            return 0
        update_id = bot.take_update_id()
        bot.pending.append({"update_id": update_id, kind: payload})
        bot.wake("update")
        self.on_change()
        return update_id

    def push_raw(self, bot: BotState, raw: JSON) -> int:
        """Queue an arbitrary update dict; its update_id is replaced by the next id."""
        update_id = bot.take_update_id()
        bot.pending.append({**raw, "update_id": update_id})
        bot.wake("update")
        self.on_change()
        return update_id

    def add_message(
        self, bot: BotState, chat: Chat, sender: str, method: str, fields: JSON, **record: Any
    ) -> MessageRecord:
        """Record a new message in ``chat`` with the next message id; returns its record."""
        date, wall, _ = now_times()
        mid = chat.take_message_id()
        author = bot.user_dict() if sender == "bot" else chat.user
        tg = {"message_id": mid, "from": author, "chat": chat.tg_chat(), "date": date, **fields}
        if sender == "bot":
            # Telegram's "from" on a bot's own message is the short bot user.
            tg["from"] = {k: author[k] for k in ("id", "is_bot", "first_name", "username")}
        rec = MessageRecord(mid, sender, method, date, wall, tg, **record)
        chat.messages[mid] = rec
        self.on_change()
        return rec

    # ----- the call pipeline ---------------------------------------------------------------

    async def call(self, token: str, method: str, params: Params) -> Outcome:
        bot = self.bots.get(token)
        if bot is None:
            return Outcome(401, ApiError(401, "Unauthorized").body())
        name = method.lower()
        impl = METHODS.get(name)
        self.flood.method_calls[canonical_name(name) if impl else method] += 1
        if impl is None:
            return Outcome(404, ApiError(404, "Not Found").body())
        chat_id = _maybe_chat_id(params)
        fault = self.faults.pick(token, name, chat_id)
        if fault is None:
            outcome = await self._run(bot, name, params, chat_id)
        else:
            outcome = await self._faulty(fault, bot, name, params, chat_id)
        self.on_change()
        return outcome

    async def _faulty(
        self, fault: FaultSpec, bot: BotState, name: str, params: Params, chat_id: int | None
    ) -> Outcome:
        if fault.kind == "error":
            return Outcome(fault.status, ApiError(fault.status, fault.error_description()).body())
        if fault.kind == "flood":
            self.flood.record_refusal(chat_id)
            err = ApiError(429, fault.error_description(), retry_after=fault.retry_after)
            return Outcome(429, err.body())
        if fault.kind == "slow":
            outcome = await self._run(bot, name, params, chat_id)
            outcome.delay = fault.delay
            return outcome
        if fault.execute:
            await self._run(bot, name, params, chat_id)
        return Outcome(0, None, fault.delay if fault.kind == "timeout" else 0.0)

    async def _run(self, bot: BotState, name: str, params: Params, chat_id: int | None) -> Outcome:
        impl = METHODS[name]
        counted = name in COUNTED_METHODS
        weight = 1
        try:
            if chat_id is not None and chat_id in bot.blocked:
                raise ApiError(403, BLOCKED)
            if counted and chat_id is not None:
                if name == "sendmediagroup":
                    media = params.obj("media")
                    weight = len(media) if isinstance(media, list) and media else 1
                _, _, mono = now_times()
                self.flood.check(bot.token, chat_id, mono, weight)
            result = await impl(self, bot, params)
        except ApiError as err:
            return Outcome(err.code, err.body())
        if counted and chat_id is not None:
            _, _, mono = now_times()
            self.flood.record(bot.token, chat_id, mono, weight)
            chat = bot.chats.get(chat_id)
            if chat is not None:
                chat.send_times.append(mono)
        return Outcome(200, {"ok": True, "result": result})

    # ----- control -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget chats, messages, updates, payments, faults, blocks, webhooks and stats (keep
        config). Update ids go on from where they were: a client may hold an offset."""
        for bot in self.bots.values():
            bot.wake("shutdown")
            fresh = BotState(bot.token, bot.bot_id, bot.username,
                             next_update_id=bot.next_update_id,
                             polls_in_flight=bot.polls_in_flight)  # they end on their own
            bot.__dict__.update(fresh.__dict__)
        self.flood.reset()
        self.faults.clear()
        self.faults.reseed(self.seed)
        self.rng = random.Random(self.seed)

    def set_next_update_id(self, bot: BotState, update_id: int) -> None:
        """The bot's next update gets ``update_id``: what Telegram does after a week without
        updates (a random next id, possibly lower than before), or a restarted Telegram."""
        if update_id < 1:
            raise ValueError("update ids are positive")
        bot.next_update_id = update_id

    def stats(self) -> JSON:
        out = self.flood.snapshot()
        window = self.config.flood_window
        send_times: dict[str, list[float]] = {}
        for bot in self.bots.values():
            for chat in bot.chats.values():
                merged = sorted(send_times.get(str(chat.id), []) + chat.send_times)
                send_times[str(chat.id)] = merged
        out["send_times"] = send_times
        out["max_chat_rate"] = {k: max_in_window(v, window) for k, v in send_times.items()}
        out["max_per_chat_rate"] = max(out["max_chat_rate"].values(), default=0)
        out["faults_injected"] = self.faults.injected
        out["active_faults"] = [
            {k: v for k, v in f.items() if k != "token"} for f in self.faults.snapshot()
        ]
        out["pending_updates"] = {b.username: len(b.pending) for b in self.bots.values()}
        out["next_update_id"] = {b.username: b.next_update_id for b in self.bots.values()}
        out["webhooks"] = {b.username: b.webhook["url"] for b in self.bots.values() if b.webhook}
        out["poll_overlaps"] = {b.username: b.poll_overlaps for b in self.bots.values()}
        out["polling"] = {
            b.username: b.waiter is not None and not b.waiter.done() for b in self.bots.values()
        }
        out["config"] = self.config.as_dict()
        return out

    def shutdown(self) -> None:
        for bot in self.bots.values():
            bot.wake("shutdown")


def _maybe_chat_id(params: Params) -> int | None:
    try:
        return params.integer("chat_id")
    except ApiError:
        return None
