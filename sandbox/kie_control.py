"""The emulator's ``/_control`` endpoints and the Tornado application that routes everything.

Control endpoints need no auth (the emulator binds to loopback) and answer plain JSON, not
KIE's envelope. A refused control document answers HTTP 400 ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from tornado.web import Application, RequestHandler

from sandbox.kie_callbacks import CallbackSender
from sandbox.kie_core import EmulatorCore
from sandbox.kie_family_handlers import family_routes
from sandbox.kie_handlers import (
    CreditHandler,
    MarketCreateHandler,
    MarketStatusHandler,
    MediaHandler,
    SunoCreateHandler,
    SunoStatusHandler,
    VeoCreateHandler,
    VeoStatusHandler,
)
from sandbox.kie_uploads import UPLOAD_ROUTES, expire_uploads, uploads_view

log = logging.getLogger("sandbox.kie_emulator")


class ControlHandler(RequestHandler):
    """``/_control/<action>``: stats, faults, config, reset, finish."""

    def initialize(self, core: EmulatorCore, sender: CallbackSender,
                   tick: Callable[[], None]) -> None:
        self.core, self.tick = core, tick

    def _json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def get(self, action: str) -> None:
        core = self.core
        if action == "stats":
            self._json(core.stats(details=self.get_query_argument("details", "1") != "0"))
        elif action == "faults":
            with core.lock:
                self._json(core.faults.source)
        elif action == "config":
            with core.lock:
                self._json(core.config.as_dict())
        elif action == "uploads":
            self._json(uploads_view(core))
        else:
            self._json({"error": f"unknown control action {action!r}"}, 404)

    def post(self, action: str) -> None:
        core = self.core
        try:
            body = json.loads(self.request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            if action == "faults":
                core.set_faults(body)
                self._json({"ok": True})
            elif action == "config":
                self._json(core.configure(body))
            elif action == "reset":
                core.reset()
                self._json({"ok": True})
            elif action == "expire_uploads":
                expire_uploads(core)
                self._json({"ok": True})
            elif action == "finish":
                core.finish_task(str(body["taskId"]), str(body.get("outcome", "success")),
                                 code=str(body.get("code", "500")),
                                 msg=str(body.get("msg", "internal error")))
                self.tick()
                self._json({"ok": True})
            else:
                self._json({"error": f"unknown control action {action!r}"}, 404)
        except (ValueError, KeyError, TypeError) as exc:
            self._json({"error": f"{type(exc).__name__}: {exc}"}, 400)


def _log_request(handler: RequestHandler) -> None:
    # Per-request access logs would dominate benchmark time; keep only server errors.
    if handler.get_status() >= 500 and handler.get_status() not in (500, 502, 503):
        log.debug("%s %s -> %s", handler.request.method, handler.request.path,
                  handler.get_status())


def make_app(core: EmulatorCore, sender: CallbackSender, tick: Callable[[], None]) -> Application:
    """The emulator's routes (see the ``kie_emulator`` docstring)."""
    kwargs = {"core": core, "sender": sender, "tick": tick}
    routes: list[Any] = [
        (r"/api/v1/jobs/createTask", MarketCreateHandler, kwargs),
        (r"/api/v1/jobs/recordInfo", MarketStatusHandler, kwargs),
        (r"/api/v1/veo/generate", VeoCreateHandler, kwargs),
        (r"/api/v1/veo/record-info", VeoStatusHandler, kwargs),
        (r"/api/v1/generate", SunoCreateHandler, kwargs),
        (r"/api/v1/generate/record-info", SunoStatusHandler, kwargs),
        *family_routes(kwargs),
        (r"/api/v1/chat/credit", CreditHandler, kwargs),
        (r"/media/([^/]+)/([^/]+)", MediaHandler, kwargs),
        *((path, handler, kwargs) for path, handler in UPLOAD_ROUTES),
        (r"/_control/([a-z_]+)", ControlHandler, kwargs),
    ]
    return Application(routes, log_function=_log_request, compress_response=False)
