"""Sandbox-only status routes: a user's credits, for the sandbox's web chat page.

Mounted on the status server only by ``run_node.py sandbox`` (the Telegram emulator knows
nothing about credits; its chat page asks here, through its own server-side proxy)::

    GET /sandbox/balance/<user_id> -> {"user_id", "known", "available", "held"}

A user who never wrote to the bot has no row yet: ``known`` false and zero credits (200, so a
page polling before ``/start`` stays quiet). Database down -> 503. The same bearer-token rule
as the other status routes; ``Access-Control-Allow-Origin: *`` lets a page on another port
fetch it directly (the server is loopback-only in the sandbox).
"""

from __future__ import annotations

import hmac
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import tornado.ioloop
import tornado.web

from trt_actors import StoreError

if TYPE_CHECKING:
    from gateways.node import Node

__all__ = ["SandboxBalance", "balance", "routes"]


def balance(node: Node, user_id: int) -> dict[str, Any]:
    """The user's credits from the ``user_get`` named query (runs on the executor)."""
    row = node.store.one("user_get", user_id=user_id)
    if row is None:
        return {"user_id": user_id, "known": False, "available": 0, "held": 0}
    return {"user_id": user_id, "known": True, "available": int(row["available"]),
            "held": int(row["held"])}


class SandboxBalance(tornado.web.RequestHandler):
    """``GET /sandbox/balance/<user_id>``; takes the status handlers' ``args``."""

    def initialize(self, node: Node, token: str | None, executor: ThreadPoolExecutor) -> None:
        self.node, self.token, self.executor = node, token, executor

    def set_default_headers(self) -> None:
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Access-Control-Allow-Headers", "Authorization")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        if self.token is None or self.request.method == "OPTIONS":
            return
        given = self.request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            self.set_status(401)
            self.finish({"error": "bearer token required"})

    def options(self, user_id: str) -> None:  # CORS preflight (a page sending a bearer token)
        self.set_status(204)
        self.finish()

    async def get(self, user_id: str) -> None:
        loop = tornado.ioloop.IOLoop.current()
        try:
            body = await loop.run_in_executor(self.executor, balance, self.node, int(user_id))
        except StoreError as exc:
            self.set_status(503)
            self.finish({"error": f"database: {type(exc).__name__}"})
            return
        self.finish(body)


def routes(args: dict[str, Any]) -> list[tuple[str, type[tornado.web.RequestHandler], Any]]:
    """The sandbox routes for the status Application; ``args`` as the other status handlers
    get them (``{"node", "token", "executor"}``)."""
    return [(r"/sandbox/balance/(\d{1,19})", SandboxBalance, args)]
