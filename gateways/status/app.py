"""The operator's window: the status HTTP server.

Routes::

    GET /         the dashboard (HTML, reloads itself every 5 s)     gateways.status.pages
    GET /status   every fact as JSON                                 gateways.status.facts
    GET /metrics  Prometheus text format                             trt_actors.infra.metrics
    GET /healthz  200 while the process serves HTTP (always open)
    GET /readyz   200 when the database answers, migrations are current and every
                  permanent child runs; 503 with the failing checks otherwise

Auth: bound to loopback by default. When ``TRT_STATUS_TOKEN`` is set (the settings demand it
when ``TRT_STATUS_LISTEN`` is not loopback) every route but ``/healthz`` needs
``Authorization: Bearer <token>``; ``/healthz`` stays open because Docker's HEALTHCHECK curls
it without one and it reveals nothing but "alive". Facts are gathered on a small executor so a
slow database never blocks the loop.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import tornado.ioloop
import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateways.http_thread import HttpThread
from gateways.status.facts import VERSION, collect, ready
from gateways.status.pages import render
from supervision import SupervisedActor
from trt_actors import CheckAlive, GetUrl, node_registry

if TYPE_CHECKING:
    from gateways.node import Node

__all__ = ["VERSION", "ExtraRoutes", "Status", "make_app"]

log = logging.getLogger("trt.status")

ExtraRoutes = list[Any] | Callable[[dict[str, Any]], list[Any]]
"""More routes for the status Application: a list of Tornado rules, or a function taking the
handlers' ``args`` (``{"node", "token", "executor"}``) and returning them (like
``gateways.status.sandbox_routes.routes``)."""


class _Base(tornado.web.RequestHandler):
    open_route = False
    """True for routes that need no bearer token."""

    def initialize(self, node: Node, token: str | None, executor: ThreadPoolExecutor,
                   registry: CollectorRegistry | None = None) -> None:
        self.node, self.token, self.executor, self.registry = node, token, executor, registry

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        if self.token is None or self.open_route:
            return
        given = self.request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if not (scheme.lower() == "bearer"
                and hmac.compare_digest(value.strip().encode(), self.token.encode())):
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Bearer realm="trt-status"')
            self.finish({"error": "bearer token required"})

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await tornado.ioloop.IOLoop.current().run_in_executor(self.executor, fn, *args)


class Healthz(_Base):
    open_route = True

    def get(self) -> None:
        self.finish({"ok": True})


class Readyz(_Base):
    async def get(self) -> None:
        ok, checks = await self.run(ready, self.node)
        self.set_status(200 if ok else 503)
        self.finish({"ready": ok, "checks": checks})


class StatusJson(_Base):
    async def get(self) -> None:
        facts = await self.run(collect, self.node)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(facts, default=str))


class Dashboard(_Base):
    async def get(self) -> None:
        facts = await self.run(collect, self.node)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(render(facts))


class Metrics(_Base):
    async def get(self) -> None:
        assert self.registry is not None
        body = await self.run(generate_latest, self.registry)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(body)


def make_app(node: Node, token: str | None, executor: ThreadPoolExecutor,
             extra_routes: ExtraRoutes | None = None) -> tornado.web.Application:
    """The status Application (the server below, and tests that mount it elsewhere)."""
    args: dict[str, Any] = {"node": node, "token": token, "executor": executor}
    metrics = {**args, "registry": node_registry(lambda: collect(node))}
    rules: list[Any] = [
        (r"/", Dashboard, args), (r"/status", StatusJson, args), (r"/metrics", Metrics, metrics),
        (r"/healthz", Healthz, args), (r"/readyz", Readyz, args),
    ]
    if extra_routes is not None:
        rules.extend(extra_routes(args) if callable(extra_routes) else extra_routes)
    return tornado.web.Application(rules)


class Status(SupervisedActor):
    """Permanent child: the status HTTP server on its own thread.

    ``extra_routes`` are appended to the Application (the sandbox mounts its routes here).
    """

    def __init__(self, node: Node, host: str, port: int,
                 extra_routes: ExtraRoutes | None = None, *, reuse_port: bool = False) -> None:
        super().__init__()
        token = node.settings.status_token
        self.executor = ThreadPoolExecutor(2, thread_name_prefix="status")
        app = make_app(node, token.get_secret_value() if token else None, self.executor,
                       extra_routes)
        self.server = HttpThread("status", app, host, port, reuse_port=reuse_port)

    def on_start(self) -> None:
        self.server.start()

    def on_stop(self) -> None:
        self.server.stop()
        self.executor.shutdown(wait=False)

    def on_failure(self, *exc_info: Any) -> None:
        self.on_stop()

    def on_receive(self, message: Any) -> Any:
        match message:
            case GetUrl():
                return self.server.url
            case CheckAlive():
                if not self.server.alive:
                    raise RuntimeError("status server thread died")
            case _:
                log.warning("status: unexpected message %r", message)
        return None
