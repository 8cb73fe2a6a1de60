"""The operator's window: ``/healthz``, ``/readyz`` and ``/status`` (JSON).

Bound to loopback by default; when ``TRT_STATUS_LISTEN`` is not loopback the settings demand
``TRT_STATUS_TOKEN`` and every request must carry it as a bearer token. Database reads run on
a small executor so a slow query never blocks the loop.
"""

from __future__ import annotations

import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import tornado.ioloop
import tornado.web

from gateways.http_thread import HttpThread
from supervision import SupervisedActor
from trt_actors.errors import StoreError
from trt_actors.migrations import pending

if TYPE_CHECKING:
    from trt_actors.node import Node

log = logging.getLogger("trt.status")

VERSION = "0.1.0"
PERMANENT = ("delivery", "callbacks", "poller", "janitor", "intake")


def collect(node: Node) -> dict[str, Any]:
    """Every fact /status shows (runs on the executor)."""
    out: dict[str, Any] = {
        "version": VERSION,
        "uptime_s": round(time.time() - node.started_at, 1),
        "supervision": node.root.snapshot(),
        "actors": {"jobs": node.jobs.snapshot(), "chats": node.chats.snapshot()},
        "alerts": node.alerts.snapshot(),
        "kie_rate_headroom": node.kie.rate_headroom(),
        "db_pool": node.store.stats(),
    }
    for name in ("poller", "intake", "delivery"):
        actor = node.actor(name)
        snap = getattr(actor, "snapshot", None)
        out[name] = snap() if callable(snap) else None
    callbacks = node.actor("callbacks")
    out["callbacks"] = dict(callbacks.ctx.stats.__dict__) if callbacks is not None else None
    try:
        with node.store.transaction() as tx:
            by_state: dict[str, int] = {}
            by_model: dict[str, int] = {}
            for row in tx.all("status_jobs"):
                by_state[row["state"]] = by_state.get(row["state"], 0) + row["n"]
                by_model[row["model_id"]] = by_model.get(row["model_id"], 0) + row["n"]
            depths = tx.one("status_depths") or {}
            orphans = {r["status"]: {"count": r["n"], "oldest": r["oldest"].isoformat()}
                       for r in tx.all("orphans_stats")}
        out["jobs"] = {"by_state": by_state, "by_model": by_model}
        out["depths"] = depths
        out["orphans"] = orphans
        out["database"] = "up"
    except StoreError as exc:
        out["database"] = f"down: {exc}"
    return out


def ready(node: Node) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    checks["database"] = node.store.ping()
    try:
        checks["migrations_current"] = checks["database"] and pending(node.conninfo) == []
    except StoreError:
        checks["migrations_current"] = False
    children = {c["id"]: c["state"] for c in node.root.snapshot().get("children", [])}
    checks["children"] = {name: children.get(name) for name in PERMANENT}
    ok = bool(checks["database"] and checks["migrations_current"]
              and all(state == "running" for state in checks["children"].values()))
    return ok, checks


class _Base(tornado.web.RequestHandler):
    def initialize(self, node: Node, token: str | None, executor: ThreadPoolExecutor) -> None:
        self.node, self.token, self.executor = node, token, executor

    def prepare(self) -> None:
        if self.token is None:
            return
        given = self.request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            self.set_status(401)
            self.finish({"error": "bearer token required"})

    async def run(self, fn: Any) -> Any:
        return await tornado.ioloop.IOLoop.current().run_in_executor(self.executor, fn, self.node)


class Healthz(_Base):
    def get(self) -> None:
        self.finish({"ok": True})


class Readyz(_Base):
    async def get(self) -> None:
        ok, checks = await self.run(ready)
        self.set_status(200 if ok else 503)
        self.finish({"ready": ok, "checks": checks})


class Status(_Base):
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        import json

        self.finish(json.dumps(await self.run(collect), default=str))


class StatusServer(SupervisedActor):
    """Permanent child: the status HTTP server on its own thread."""

    def __init__(self, node: Node, host: str, port: int) -> None:
        super().__init__()
        token = node.settings.status_token
        self.executor = ThreadPoolExecutor(2, thread_name_prefix="status")
        args = {"node": node, "token": token.get_secret_value() if token else None,
                "executor": self.executor}
        app = tornado.web.Application([
            (r"/healthz", Healthz, args), (r"/readyz", Readyz, args), (r"/status", Status, args),
        ])
        self.server = HttpThread("status", app, host, port)

    def on_start(self) -> None:
        self.server.start()

    def on_stop(self) -> None:
        self.server.stop()
        self.executor.shutdown(wait=False)

    def on_failure(self, *exc_info: Any) -> None:
        self.on_stop()

    def on_receive(self, message: Any) -> Any:
        if message == "url":
            return self.server.url
        return None
