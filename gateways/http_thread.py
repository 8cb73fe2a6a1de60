"""A Tornado server on its own thread and asyncio loop, owned by a supervised actor.

Tornado code never blocks (database work goes to a small executor); actors are reached only
by ``tell``/``route``. Starting returns once the socket listens, so the bound port (``port``
may be 0) is known; stopping closes the server and ends the loop. With ``reuse_port`` the
socket is bound with SO_REUSEPORT, so the workers of one node all listen on the same fixed
port and the kernel spreads the connections among them (with port 0 each would get its own).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

log = logging.getLogger("trt.http")


class HttpThread:
    """One Tornado ``Application`` served on ``host:port`` from a dedicated thread."""

    def __init__(self, name: str, app: tornado.web.Application, host: str, port: int,
                 *, max_body_size: int = 1 << 20, reuse_port: bool = False) -> None:
        self.name, self.app, self.host, self.port = name, app, host, port
        self.max_body_size, self.reuse_port = max_body_size, reuse_port
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: tornado.httpserver.HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> HttpThread:
        self._thread = threading.Thread(target=self._run, name=f"http-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"{self.name}: server did not start within {timeout}s")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            server = tornado.httpserver.HTTPServer(
                self.app, max_body_size=self.max_body_size, xheaders=False)
            sockets = tornado.netutil.bind_sockets(self.port, self.host,
                                                   reuse_port=self.reuse_port)
            server.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
            self._server = server
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        log.info("%s listening on %s:%s", self.name, self.host, self.port)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def call_soon(self, fn: Any, *args: Any) -> None:
        """Run ``fn`` on the server's loop (thread-safe hand-off into asyncio)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 5.0) -> None:
        loop, server = self.loop, self._server
        if loop is None or loop.is_closed():
            return

        async def shutdown() -> None:
            if server is not None:
                server.stop()
                await server.close_all_connections()
            loop.stop()

        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(shutdown()))
        if self._thread is not None:
            self._thread.join(timeout)

