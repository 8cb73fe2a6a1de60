"""The bot's own asyncio loop thread: a PTB ``Bot`` that delivery's coroutines run on.

Started by :class:`~gateways.telegram.delivery.DeliveryLoop`; ``start`` returns once getMe
answered (or could not connect: sends retry anyway) and raises on an invalid token. Stopping
cancels every task and closes the bot's connections on the loop before the thread ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import telegram
from telegram.error import NetworkError
from telegram.request import HTTPXRequest

from gateways.telegram.send_errors import Redactor
from trt_actors import TelegramError

log = logging.getLogger("trt.delivery")

HTTP_CONNECTIONS = 8
"""Connections to the Bot API, and requests in flight at once (the rest wait their turn)."""


class BoundedRequest(HTTPXRequest):
    """PTB's httpx transport with at most ``connection_pool_size`` requests in flight.

    httpcore scans every pooled connection for every queued request on every change
    (``_assign_requests_to_connections``): with a backlog of hundreds of sends queued inside
    the pool, that bookkeeping took a third of the delivery loop's time. Waiting here, on an
    asyncio semaphore, keeps httpcore's queue empty.
    """

    def __init__(self, *, connection_pool_size: int, **kwargs: Any) -> None:
        super().__init__(connection_pool_size=connection_pool_size, **kwargs)
        self._slots = asyncio.Semaphore(connection_pool_size)

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        async with self._slots:
            return await super().do_request(*args, **kwargs)


class BotThread:
    """A PTB ``Bot`` on its own asyncio loop thread (the pattern of ``http_thread``); ``start``
    returns once getMe answered (or failed to connect: sends retry), raises on a bad token."""

    def __init__(self, token: str, api_url: str, redact: Redactor, *, read_timeout: float,
                 media_timeout: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.redact = redact
        self.bot = telegram.Bot(
            token, base_url=f"{api_url}/bot", base_file_url=f"{api_url}/file/bot",
            request=BoundedRequest(connection_pool_size=HTTP_CONNECTIONS,
                                   read_timeout=read_timeout,
                                   write_timeout=read_timeout, connect_timeout=10.0,
                                   pool_timeout=10.0, media_write_timeout=media_timeout),
            get_updates_request=HTTPXRequest(connection_pool_size=1))
        self.tasks: set[asyncio.Task[Any]] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="telegram-delivery", daemon=True)

    def start(self, timeout: float = 30.0) -> BotThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TelegramError("the Telegram delivery loop did not start in time")
        if self._error is not None:
            raise self._error
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def username(self) -> str | None:
        """The bot's username from getMe; None when getMe could not answer at start."""
        try:
            return str(self.bot.username) if self.bot.username else None
        except RuntimeError:  # PTB: not initialized (getMe failed to connect)
            return None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self.loop.create_task(coro)  # on the loop thread only
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Thread-safe hand-off into the loop."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel every task, close the bot's connections, end the thread."""
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._open())
        except BaseException as exc:
            self._error = TelegramError(self.redact(f"{type(exc).__name__}: {exc}"))
            self._ready.set()
            self.loop.close()
            return
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self._close())
            self.loop.close()

    async def _open(self) -> None:
        try:
            await self.bot.initialize()
        except NetworkError as exc:  # (InvalidToken is no NetworkError: it fails the start)
            log.warning("delivery: getMe failed (%s); continuing", self.redact(str(exc)))

    async def _close(self) -> None:
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done() and t is not me]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self.bot.shutdown()
        except Exception as exc:  # closing sockets: nothing left to save
            log.debug("delivery: bot shutdown: %s", self.redact(str(exc)))
