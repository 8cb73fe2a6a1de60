"""The sandbox's web chat page: a person talks to the bot in a browser, as in the Telegram app.

Served by the Telegram emulator next to the Bot API::

    GET /chat[?user_id=1&lang=en&name=Test&balance_url=...]   the page (static HTML + JS + CSS)
    GET /chat/static/<file>                                    its script and style sheet
    GET /_user/wait_messages?chat_id=N&since=V&timeout=25      long poll: answers at once when
        the chat's version differs from ``since``, else when it changes (or at the timeout) ->
        {"ok": true, "result": {"version", "bot": {username, first_name}, "balance": bool
        (is balance_url configured), "messages": [...]}}
        (messages as ``/_user/messages`` with ``include_user``)
    GET /_user/balance?user_id=N                                the user's credits, fetched
        server-side from ``balance_url`` (so the browser needs no CORS) ->
        {"ok": true, "result": {"available", "held", "known"}} | 404 not configured | 502

The page acts only through the ordinary user API (``/_user/send_text``, ``press_button``,
``pay_invoice``), so it exercises the bot exactly like a test does. ``balance_url`` is a URL
template with ``{user_id}`` (the node's sandbox-only ``/sandbox/balance/{user_id}``); the
emulator knows nothing about credits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.web import MissingArgumentError, RequestHandler, StaticFileHandler

from sandbox import telegram_users as users
from sandbox.telegram_model import JSON

if TYPE_CHECKING:
    from sandbox.telegram_core import EmulatorCore

log = logging.getLogger("sandbox.chat_page")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_WAIT_S = 50.0
BALANCE_TIMEOUT_S = 5.0


class ChatPage:
    """The page's server-side state: the balance URL and a change signal for long polls.

    ``attach`` chains onto ``core.on_change`` (called on the emulator's loop thread after
    every state change), so waiting long polls wake without polling the core.
    """

    def __init__(self, balance_url: str | None = None) -> None:
        self.balance_url = balance_url or None
        """``"http://127.0.0.1:8081/sandbox/balance/{user_id}"``, or None (no balance)."""
        self._changed: asyncio.Event | None = None
        self.closed = False

    def attach(self, core: EmulatorCore) -> None:
        previous = core.on_change

        def on_change() -> None:
            previous()
            self.bump()

        core.on_change = on_change

    def bump(self) -> None:
        """Wake every waiting long poll (loop thread only)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def changed(self) -> asyncio.Event:
        """An event set at the next change (created lazily on the running loop)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def close(self) -> None:
        """Answer every waiting long poll now (the emulator is stopping)."""
        self.closed = True
        self.bump()

    def routes(self, core: EmulatorCore) -> list[tuple[str, type[RequestHandler], JSON]]:
        """Tornado routes; they must come before the generic ``/_user/<op>`` route."""
        init: JSON = {"core": core, "page": self}
        return [
            (r"/chat/?", PageHandler, {"path": str(STATIC_DIR)}),
            (r"/chat/static/(.+)", _NoCacheStatic, {"path": str(STATIC_DIR)}),
            (r"/_user/wait_messages", WaitMessagesHandler, init),
            (r"/_user/balance", BalanceHandler, init),
        ]


def chat_version(core: EmulatorCore, token: str | None, chat_id: int) -> str:
    """Changes whenever a message of the chat is added, edited or deleted (opaque string)."""
    chat = core.bot(token).chats.get(chat_id)
    if chat is None:
        return "none"
    edits = sum(len(r.edits) for r in chat.messages.values())
    deleted = sum(1 for r in chat.messages.values() if r.deleted)
    # id(chat) changes when /_control/reset replaces the chats.
    return f"{id(chat):x}.{chat.next_message_id}.{edits}.{deleted}"


class _NoCacheStatic(StaticFileHandler):
    """A developer edits the page and reloads: never serve a stale script."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-store")


class PageHandler(_NoCacheStatic):
    """``GET /chat``: always chat.html; the script reads its settings from the query."""

    async def get(self, path: str = "", include_body: bool = True) -> None:
        await super().get("chat.html", include_body)


class _Api(RequestHandler):
    core: EmulatorCore
    page: ChatPage

    def initialize(self, core: EmulatorCore, page: ChatPage) -> None:
        self.core, self.page = core, page

    def reply(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def int_arg(self, name: str) -> int | None:
        try:
            return int(self.get_query_argument(name))
        except (ValueError, MissingArgumentError):
            self.reply(400, {"ok": False, "error": f"{name} must be an integer"})
            return None


class WaitMessagesHandler(_Api):
    """Long poll for one chat's messages (the user's too), answered on the first change."""

    async def get(self) -> None:
        chat_id = self.int_arg("chat_id")
        if chat_id is None:
            return
        token = self.get_query_argument("token", None)
        since = self.get_query_argument("since", "")
        try:
            timeout = min(max(float(self.get_query_argument("timeout", "25")), 0.0), MAX_WAIT_S)
            bot = self.core.bot(token)
        except (ValueError, KeyError) as exc:
            self.reply(400, {"ok": False, "error": str(exc)})
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.page.closed and chat_version(self.core, token, chat_id) == since:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self.page.changed().wait(), remaining)
            except TimeoutError:
                break
        self.reply(200, {"ok": True, "result": {
            "version": chat_version(self.core, token, chat_id),
            "bot": {"username": bot.username, "first_name": bot.first_name},
            "balance": self.page.balance_url is not None,
            "messages": users.messages(bot, chat_id, include_user=True),
        }})


class BalanceHandler(_Api):
    """The user's credits from the node's sandbox balance endpoint, fetched server-side."""

    async def get(self) -> None:
        user_id = self.int_arg("user_id")
        if user_id is None:
            return
        if self.page.balance_url is None:
            self.reply(404, {"ok": False, "error": "no balance_url configured"})
            return
        url = self.page.balance_url.replace("{user_id}", str(user_id))
        try:
            response = await AsyncHTTPClient().fetch(url, request_timeout=BALANCE_TIMEOUT_S)
            body = json.loads(response.body)
        except HTTPClientError as exc:
            status = exc.code if exc.code in (404, 503) else 502
            self.reply(status, {"ok": False, "error": f"balance endpoint answered {exc.code}"})
            return
        except (OSError, ValueError) as exc:
            self.reply(502, {"ok": False, "error": f"balance endpoint: {type(exc).__name__}"})
            return
        if not isinstance(body, dict) or "available" not in body:
            self.reply(502, {"ok": False, "error": "balance endpoint: unexpected answer"})
            return
        self.reply(200, {"ok": True, "result": {"available": body["available"],
                                                "held": body.get("held", 0),
                                                "known": body.get("known", True)}})
