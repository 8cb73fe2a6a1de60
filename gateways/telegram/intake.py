"""Telegram intake: getUpdates → update inbox → chat actors, with nothing lost or repeated.

python-telegram-bot's ``Updater`` confirms updates to Telegram *before* handlers run, so a
crash loses them; here the polling actor calls ``getUpdates`` itself with PTB's ``Bot``,
writes each batch into ``telegram_updates`` in ONE transaction, and only then does the next
``getUpdates`` carry the offset that confirms them to Telegram. Then each stored update is
routed to its chat actor, which marks it handled in the transaction that handles it. At
start-up every unhandled update is routed again.

Update ids are not forever-unique: Telegram picks a random next id after a week without
updates, and another token is another bot with its own sequence. So the offset is sent once,
to confirm the batch just stored, and never carried across runs (the first getUpdates of a
run sends none: Telegram keeps unconfirmed updates 24 h and sends them); the inbox keys an
update by the bot's id and Telegram's id, and takes it for a repeat only if seen in the last
24 h. At start a webhook left set by an earlier deployment is deleted (``webhook``).

Errors, by class (as in PTB's own network loop): ``RetryAfter`` → wait what Telegram says;
``TimedOut`` / ``NetworkError`` → retry with backoff capped at 30 s; ``Conflict`` (409) → an
alert naming which conflict it is (a webhook set while the node runs, or another process
polling this token), retried with a backoff capped at 60 s, cleared when getUpdates answers
again: the node never fights by deleting a webhook it did not find at start, and never goes
deaf for good; ``InvalidToken`` → stop (the node's pre-flight ``getMe`` refuses to start
with a bad token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import telegram
from telegram.error import (
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from gateways.published import Published
from gateways.telegram.send_errors import flood_wait
from gateways.telegram.updates import clean_json, store_updates
from gateways.telegram.webhook import (
    CONFLICT_ALERTS,
    WEBHOOK,
    conflict_kind,
    delete_left_webhook,
)
from supervision import SupervisedActor
from trt_actors import (
    Alerts,
    Backoff,
    DatabaseUnavailable,
    IntakeLoopFailed,
    Router,
    Store,
    UpdateReceived,
)

log = logging.getLogger("trt.intake")

ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]
BOT_KEY = "telegram_bot_id"
"""node_state: the bot this database was last polled for (a token change is logged)."""
POLL_BACKOFF = Backoff(base=1.0, cap=30.0, jitter=(0.8, 1.2))
"""After a timeout or network error of getUpdates (a success starts again from 1 s)."""
CONFLICT_BACKOFF = Backoff(base=5.0, cap=60.0, jitter=(0.8, 1.2))
"""After a 409: slow enough not to fight another poller, quick to resume once it is gone."""
LEASE_MARGIN = 0.75
"""Seconds a long poll must end before the intake lease could: the request's way there and
back (Telegram answers it ``timeout`` seconds after it arrived at the latest)."""
STORE_BACKOFF = Backoff(base=1.0, cap=1.0, factor=1.0)
"""A steady 1 s while the database refuses the updates: they are not confirmed meanwhile."""


def make_bot(token: str, api_url: str, *, read_timeout: float = 10.0) -> telegram.Bot:
    """A PTB ``Bot`` for ``<api_url>/bot<token>/<method>`` (the emulator or Telegram)."""
    from telegram.request import HTTPXRequest

    request = HTTPXRequest(connection_pool_size=16, read_timeout=read_timeout,
                           connect_timeout=5.0, write_timeout=10.0)
    polling = HTTPXRequest(connection_pool_size=2, read_timeout=read_timeout + 60,
                           connect_timeout=5.0)
    return telegram.Bot(token, base_url=f"{api_url}/bot", base_file_url=f"{api_url}/file/bot",
                        request=request, get_updates_request=polling)


class Intake(SupervisedActor):
    """Permanent child: runs the long-poll loop on its own asyncio thread. Publishes
    :meth:`snapshot` to ``published`` (it reads values the loop thread replaces whole)."""

    def __init__(self, store: Store, chats: Router, token: str, api_url: str, *,
                 poll_timeout: int = 25, alerts: Alerts | None = None,
                 published: Published | None = None,
                 owns: Callable[[int], bool] = lambda chat_id: True,
                 parts: Callable[[], list[int] | None] = lambda: None,
                 lease_left: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.owns, self.parts, self.lease_left = owns, parts, lease_left
        """Several workers: which chats this worker handles (the others' owners are woken
        through the database), and how long this worker surely remains the intake leader
        (a getUpdates is sent only if it ends before that: never two at once)."""
        self.store, self.chats = store, chats
        self.token, self.api_url = token, api_url
        self.poll_timeout = poll_timeout
        self.alerts = alerts
        self.state = "starting"
        self.bot_id: int | None = None
        self.offset: int | None = None
        """The offset learned last in this run (shown on /status)."""
        self._confirm: int | None = None
        """The offset the next getUpdates sends: set once per stored batch."""
        self.received = 0
        self.last_poll_at: float | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        if published is not None:
            published.publish(self.snapshot)

    # --- actor ------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.redispatch_unhandled()
        self._thread = threading.Thread(target=self._run, name="telegram-intake", daemon=True)
        self._thread.start()

    def on_stop(self) -> None:
        self._halt.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            # Cancel the long poll now instead of waiting up to poll_timeout for it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def on_failure(self, *exc_info: Any) -> None:
        # pykka runs on_failure, not on_stop, for a failed actor: without this its loop
        # would poll on beside the restarted one (two pollers: 409s, updates taken twice).
        self.on_stop()

    def on_receive(self, message: Any) -> Any:
        match message:
            case IntakeLoopFailed():
                raise RuntimeError("telegram intake loop died")  # the supervisor restarts us
            case _:
                log.warning("intake: unexpected message %r", message)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state, "bot_id": self.bot_id, "offset": self.offset,
                "received": self.received,
                "last_poll_age_s": (round(time.time() - self.last_poll_at, 1)
                                    if self.last_poll_at else None)}

    def redispatch_unhandled(self) -> int:
        rows = self.store.all("updates_unhandled", limit=100_000, parts=self.parts())
        for row in rows:
            self._dispatch(row["update_id"], row["chat_id"])
        if rows:
            log.info("re-dispatched %d unhandled updates", len(rows))
        return len(rows)

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._task = loop.create_task(self._poll_forever())
        try:
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("telegram intake loop crashed")
            self.state = "failed"
            with contextlib.suppress(Exception):  # already stopping
                self.actor_ref.tell(IntakeLoopFailed())  # the actor fails: it is restarted
        finally:
            loop.close()

    async def _poll_forever(self) -> None:
        bot = make_bot(self.token, self.api_url, read_timeout=10.0)
        failures = 0  # consecutive timeouts / network errors
        conflicts = 0  # consecutive 409s
        try:
            if not await self._initialize(bot):
                return
            self.bot_id = bot.id
            await asyncio.to_thread(self._claim_bot, bot.id)
            webhook_checked = await self._delete_left_webhook(bot)
            self.state = "polling"
            while not self._halt.is_set():
                timeout = self._poll_timeout()
                if timeout is None:  # the lease may end before a poll would: wait for it
                    await self._sleep(0.1)
                    continue
                # Sent once: a later getUpdates with a stale offset would confirm (drop)
                # updates whose ids went below it (Telegram's random next id after a week).
                offset, self._confirm = self._confirm, None
                try:
                    # Raw JSON, not PTB objects: one update PTB cannot parse (a newer Bot
                    # API field, say) must not make the whole batch unreadable forever.
                    with warnings.catch_warnings():  # PTB prefers get_updates; see above
                        warnings.simplefilter("ignore")
                        updates = await bot.do_api_request(
                            "getUpdates",
                            api_kwargs={"offset": offset, "timeout": timeout,
                                        "allowed_updates": ALLOWED_UPDATES},
                            read_timeout=timeout + 10)
                    self.last_poll_at = time.time()
                    failures = 0
                    if conflicts:
                        conflicts = 0
                        self._conflict_over()
                except RetryAfter as exc:
                    self._confirm = offset  # refused: nothing was confirmed
                    delay = flood_wait(exc)
                    log.warning("getUpdates: flood control, waiting %.0fs", delay)
                    await self._sleep(delay)
                    continue
                except Conflict as exc:
                    self._confirm = offset
                    kind = conflict_kind(exc.message)
                    if kind == WEBHOOK and not webhook_checked:
                        # The check at start could not ask Telegram: this is still the
                        # webhook of an earlier deployment, not one set while we run.
                        webhook_checked = await self._delete_left_webhook(bot)
                        if not webhook_checked:
                            await self._sleep(POLL_BACKOFF.delay(1))
                        continue
                    conflicts += 1
                    self._conflict(kind, exc.message)
                    await self._sleep(CONFLICT_BACKOFF.delay(conflicts))
                    continue
                except InvalidToken:
                    self.state = "invalid_token"
                    log.error("getUpdates: Telegram rejected TRT_TELEGRAM_TOKEN; polling stopped")
                    return
                except (TimedOut, NetworkError) as exc:
                    failures += 1
                    delay = POLL_BACKOFF.delay(failures)
                    log.info("getUpdates: %s; retrying in %.1fs", type(exc).__name__, delay)
                    await self._sleep(delay)
                    continue
                if isinstance(updates, list) and updates:
                    await self._store_and_dispatch(
                        [clean_json(u) for u in updates if isinstance(u, dict)
                         and isinstance(u.get("update_id"), int)])
        finally:
            with contextlib.suppress(Exception):  # never initialized, or the loop is going
                await bot.shutdown()

    def _poll_timeout(self) -> int | None:
        """The long poll's timeout: ``poll_timeout``, or less so that the poll ends while
        this worker surely holds the intake lease (``None``: too little of it is left)."""
        if self.lease_left is None:
            return self.poll_timeout
        timeout = min(self.poll_timeout, int(self.lease_left() - LEASE_MARGIN))
        return timeout if timeout >= 1 else None

    async def _initialize(self, bot: telegram.Bot) -> bool:
        """PTB's initialize (getMe: the bot's id), retried while Telegram is unreachable."""
        failures = 0
        while not self._halt.is_set():
            try:
                await bot.initialize()
                return True
            except (TimedOut, NetworkError) as exc:  # InvalidToken is neither: it raises
                failures += 1
                delay = POLL_BACKOFF.delay(failures)
                log.info("getMe: %s; retrying in %.1fs", type(exc).__name__, delay)
                await self._sleep(delay)
        return False

    async def _delete_left_webhook(self, bot: telegram.Bot) -> bool:
        """Delete a webhook left by an earlier deployment; whether Telegram could be asked."""
        try:
            await delete_left_webhook(bot)
        except InvalidToken:
            raise
        except TelegramError as exc:
            log.info("getWebhookInfo/deleteWebhook: %s; asking again on a 409", exc)
            return False
        return True

    def _conflict(self, kind: str, description: str) -> None:
        key, message = CONFLICT_ALERTS[kind]
        self.state = f"conflict: {kind}"
        if self.alerts is not None:
            self.alerts.raise_(key, message)  # logged once, at ERROR, while it lasts
        else:
            log.error("getUpdates: 409 %s", description)

    def _conflict_over(self) -> None:
        self.state = "polling"
        log.warning("getUpdates answers again: polling resumed")
        if self.alerts is not None:
            for key, _ in CONFLICT_ALERTS.values():
                self.alerts.clear(key)

    async def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._halt.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    async def _store_and_dispatch(self, updates: list[dict[str, Any]]) -> None:
        # Confirms the whole batch, including updates stored before (sent again).
        next_offset = max(int(u["update_id"]) for u in updates) + 1
        failures = 0
        while not self._halt.is_set():
            try:
                rows = await asyncio.to_thread(self._store, updates)
                break
            except DatabaseUnavailable as exc:
                # Not stored → not confirmed: keep the offset and try the write again.
                log.warning("updates not stored (%s); retrying", exc)
                failures += 1
                await self._sleep(STORE_BACKOFF.delay(failures))
        else:
            return
        self.offset = self._confirm = next_offset
        self.received += len(rows)
        for row in sorted(rows, key=lambda r: r["update_id"]):
            self._dispatch(row["update_id"], row["chat_id"])

    def _claim_bot(self, bot_id: int) -> None:
        """Record which bot this database is polled for. The first start after migration
        0007 gives the rows stored before it (which have no bot id) to this bot: the token
        in use then. Another bot than last time is logged: its update ids are its own."""
        with self.store.transaction() as tx:
            row = tx.one("state_get", key=BOT_KEY)
            before = int(row["value"]) if row else None
            if before is None:
                tx.run("updates_adopt", bot_id=bot_id)
            tx.run("state_set", key=BOT_KEY, value=json.dumps(bot_id))
        if before is not None and before != bot_id:
            log.warning("TRT_TELEGRAM_TOKEN is another bot now (id %d, was %d): its updates "
                        "are numbered on their own", bot_id, before)

    def _store(self, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self.bot_id is not None
        return store_updates(self.store, self.bot_id, updates, self.owns)

    def _dispatch(self, update_id: int, chat_id: int | None) -> None:
        if chat_id is None:
            # An update kind we do not handle: mark it handled so it is never replayed.
            self.store.run("update_handled", update_id=update_id)
            return
        if self.owns(chat_id):  # else its owner was woken (and the janitor looks again)
            self.chats.route(chat_id, UpdateReceived(update_id, chat_id))
