"""Tornado handlers: the Bot API, the /_user/ API and the /_control/ API (file downloads and
``/_user/send_media``: :mod:`sandbox.telegram_files`).

Handlers run on the emulator's loop thread and call the core directly. The access log is
replaced by a DEBUG line with the token masked: tokens sit in Bot API URL paths.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from tornado.web import Application, RequestHandler

from sandbox import telegram_users as users
from sandbox.chat_page import ChatPage
from sandbox.telegram_core import EmulatorCore, Outcome
from sandbox.telegram_faults import FaultSpec
from sandbox.telegram_files import FileDownloadHandler, UserFileHandler, send_media_op
from sandbox.telegram_media import Upload
from sandbox.telegram_model import JSON, ApiError, BotState
from sandbox.telegram_params import Params

log = logging.getLogger("sandbox.telegram_emulator")
_TOKEN_IN_PATH = re.compile(r"/(file/)?bot[^/]+/")


def _log_request(handler: RequestHandler) -> None:
    path = _TOKEN_IN_PATH.sub(lambda m: f"/{m.group(1) or ''}bot***/", handler.request.path)
    log.debug("%s %s %s", handler.get_status(), handler.request.method, path)


class _Base(RequestHandler):
    core: EmulatorCore

    def initialize(self, core: EmulatorCore) -> None:
        self.core = core

    def check_xsrf_cookie(self) -> None:  # a test fixture, not a browser app
        return

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Tornado's default logs the full URI, which carries the bot token.
        path = _TOKEN_IN_PATH.sub("/bot***/", self.request.path)
        log.error("uncaught exception in %s %s", self.request.method, path,
                  exc_info=(typ, value, tb))

    def reply(self, status: int, body: Any) -> None:
        self.set_status(status, None if status in _KNOWN else "Error")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


_KNOWN = {200, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504}


class BotApiHandler(_Base):
    """``/bot<token>/<method>``: GET or POST, query / form / multipart / JSON parameters.

    A getUpdates whose client goes away (a killed process) ends at once: it no longer holds
    the bot's long poll, so the next poller's getUpdates is no overlap."""

    _poll: asyncio.Task[Outcome] | None = None
    _gone = False

    async def get(self, token: str, method: str) -> None:
        await self._handle(token, method)

    async def post(self, token: str, method: str) -> None:
        await self._handle(token, method)

    def _params(self) -> Params:
        values: JSON = {k: v[-1].decode("utf-8", "replace")
                        for k, v in self.request.query_arguments.items()}
        ctype = self.request.headers.get("Content-Type", "")
        if ctype.startswith("application/json") and self.request.body:
            body = json.loads(self.request.body)
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            values.update(body)
        else:
            values.update({k: v[-1].decode("utf-8", "replace")
                           for k, v in self.request.body_arguments.items()})
        uploads = {
            name: Upload(f[-1].filename, f[-1].body, f[-1].content_type)
            for name, f in self.request.files.items()
        }
        return Params(values, uploads)

    async def _handle(self, token: str, method: str) -> None:
        try:
            params = self._params()
        except ValueError:
            self.reply(400, ApiError(400, "Bad Request: can't parse JSON body").body())
            return
        call = self.core.call(token, method, params)
        if method.lower() != "getupdates":
            outcome = await call
        else:
            self._poll = asyncio.ensure_future(call)
            try:
                outcome = await self._poll
            except asyncio.CancelledError:
                if self._gone:
                    return
                raise
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        if outcome.body is None:
            self.detach().close()  # answer nothing: the client sees a dropped connection
            return
        self.reply(outcome.status, outcome.body)

    def on_connection_close(self) -> None:
        self._gone = True
        if self._poll is not None:
            self._poll.cancel()


def _bot(core: EmulatorCore, args: JSON) -> BotState:
    if args.get("bot"):
        for bot in core.bots.values():
            if bot.username == args["bot"]:
                return bot
        raise ValueError("unknown bot username")
    return core.bot(args.get("token"))


def _user_ops() -> dict[str, Callable[[EmulatorCore, JSON], Any]]:
    def send_text(core: EmulatorCore, a: JSON) -> Any:
        return users.send_text(
            core, _bot(core, a), int(a["user_id"]), str(a["text"]),
            first_name=a.get("first_name", "Test"), language_code=a.get("language_code", "en"),
            username=a.get("username"),
            chat_id=int(a["chat_id"]) if a.get("chat_id") is not None else None,
            chat_type=str(a.get("chat_type", "group")), title=a.get("title"),
        )

    def send_photo(core: EmulatorCore, a: JSON) -> Any:
        data = base64.b64decode(a["data_base64"])
        return users.send_photo(core, _bot(core, a), int(a["user_id"]), data,
                                caption=a.get("caption"), first_name=a.get("first_name", "Test"))

    def press_button(core: EmulatorCore, a: JSON) -> Any:
        return users.press_button(core, _bot(core, a), int(a["user_id"]), int(a["message_id"]),
                                  str(a["callback_data"]),
                                  chat_id=int(a["chat_id"]) if a.get("chat_id") else None)

    def pay_invoice(core: EmulatorCore, a: JSON) -> Any:
        return users.pay_invoice(core, _bot(core, a), int(a["user_id"]),
                                 int(a["invoice_message_id"]))

    def replay_payment(core: EmulatorCore, a: JSON) -> Any:
        charge = str(a["telegram_payment_charge_id"])
        return {"update_id": users.replay_payment(core, _bot(core, a), charge)}

    def inject_update(core: EmulatorCore, a: JSON) -> Any:
        return {"update_id": core.push_raw(_bot(core, a), dict(a["update"]))}

    def block(core: EmulatorCore, a: JSON) -> Any:
        users.set_blocked(core, _bot(core, a), int(a["user_id"]), bool(a.get("blocked", True)))
        return True

    def messages(core: EmulatorCore, a: JSON) -> Any:
        include = str(a.get("include_user", "")).lower() in ("1", "true", "yes")
        return users.messages(_bot(core, a), int(a["chat_id"]), include)

    def callback_query(core: EmulatorCore, a: JSON) -> Any:
        return _bot(core, a).callback_queries[str(a["id"])]

    def pre_checkout_query(core: EmulatorCore, a: JSON) -> Any:
        return _bot(core, a).pre_checkouts[str(a["id"])]

    def payments(core: EmulatorCore, a: JSON) -> Any:
        return list(_bot(core, a).payments.values())

    return {f.__name__: f for f in (send_text, send_photo, press_button, pay_invoice,
                                    replay_payment, inject_update, block, messages,
                                    callback_query, pre_checkout_query, payments)}


USER_OPS = _user_ops()
USER_OPS["send_media"] = lambda core, a: send_media_op(core, _bot(core, a), a)


class UserHandler(_Base):
    """``/_user/<op>``: POST a JSON object of arguments, or GET with query arguments."""

    def get(self, op: str) -> None:
        args = {k: v[-1].decode() for k, v in self.request.query_arguments.items()}
        self._run(op, args)

    def post(self, op: str) -> None:
        try:
            args = json.loads(self.request.body or b"{}")
        except ValueError:
            self.reply(400, {"ok": False, "error": "body must be JSON"})
            return
        self._run(op, args)

    def _run(self, op: str, args: JSON) -> None:
        fn = USER_OPS.get(op)
        if fn is None:
            self.reply(404, {"ok": False, "error": f"unknown user op {op!r}"})
            return
        try:
            result = fn(self.core, args)
        except (KeyError, ValueError, TypeError) as exc:
            self.reply(400, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return
        self.reply(200, {"ok": True, "result": result})


class ControlHandler(_Base):
    """``/_control/stats|reset|faults|config|next_update_id``."""

    def get(self, op: str) -> None:
        core = self.core
        views = {"stats": core.stats, "faults": core.faults.snapshot,
                 "config": core.config.as_dict}
        if op not in views:
            self.reply(404, {"ok": False, "error": f"unknown control op {op!r}"})
            return
        self.reply(200, {"ok": True, "result": views[op]()})

    def post(self, op: str) -> None:
        try:
            args = json.loads(self.request.body or b"{}")
            if op == "reset":
                self.core.reset()
            elif op == "faults":
                apply_faults(self.core, args)
            elif op == "config":
                self.core.config.update(args)
            elif op == "next_update_id":
                self.core.set_next_update_id(_bot(self.core, args), int(args["update_id"]))
            else:
                self.reply(404, {"ok": False, "error": f"unknown control op {op!r}"})
                return
        except (KeyError, ValueError, TypeError) as exc:
            self.reply(400, {"ok": False, "error": str(exc)})
            return
        self.reply(200, {"ok": True, "result": True})


def apply_faults(core: EmulatorCore, args: JSON) -> None:
    """``{"clear": true}`` and/or ``{"faults": [spec, ...]}`` or a single spec object."""
    if args.get("clear"):
        core.faults.clear()
    specs = args.get("faults")
    if specs is None and ("kind" in args or "method" in args):
        specs = [args]
    for spec in specs or []:
        core.faults.add(FaultSpec.from_json(spec))


def make_app(core: EmulatorCore, chat_page: ChatPage | None = None) -> Application:
    """The emulator's routes; with ``chat_page``, also the web chat page (``/chat``)."""
    init = {"core": core}
    page_routes: list[Any] = []
    if chat_page is not None:
        chat_page.attach(core)
        page_routes = chat_page.routes(core)
    return Application(
        [
            *page_routes,  # before /_user/<op>: the page adds two /_user/ endpoints
            (r"/bot([^/]+)/([^/]*)", BotApiHandler, init),
            (r"/file/bot([^/]+)/(.+)", FileDownloadHandler, init),
            (r"/_user/file", UserFileHandler, init),
            (r"/_user/([a-z_]+)", UserHandler, init),
            (r"/_control/([a-z_]+)", ControlHandler, init),
        ],
        log_function=_log_request,
    )
