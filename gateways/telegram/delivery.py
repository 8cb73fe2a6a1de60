"""The delivery actor: the only writer of bot messages to Telegram, working off the outbox.

Shape: a supervised pykka actor claims due outbox rows (on ``Wake``, told by whoever queued
something, and every ``interval`` seconds) and hands them to its own asyncio loop thread,
where python-telegram-bot's ``Bot`` sends them. Each chat has one worker coroutine that takes
its rows strictly in outbox order; every send and edit waits for a slot from the
:mod:`~gateways.telegram.pacer` (bot-wide limit, per-chat token bucket), answers to
callback / pre-checkout queries go out at once.

Priorities (``outbox.Priority``): answers to what a user just did, then results, then
progress edits (only the latest edit of a message is sent), then broadcasts. Chats with an
answer waiting are claimed even when memory is full of results; at the gate the most urgent
class goes next, and every other slot goes to a row that waited ``starve_after`` s, if any.
Within one chat nothing is reordered (a prefix is claimed, sent one after another, the head
at its queue's most urgent class). Database work from the loop
(:mod:`~gateways.telegram.delivery_outcomes`) runs on a small thread pool, so the loop never
blocks; the Bot API calls are :mod:`~gateways.telegram.send`'s, on
:mod:`~gateways.telegram.bot_thread`'s loop.

Durability: a row is ``sending`` while it is in memory. At start every ``sending`` row goes
back to ``pending`` — only rows on the wire at a kill can reach a chat twice. Each incarnation
claims rows under its own epoch, and only the claimer may settle a row (see
:mod:`~gateways.telegram.delivery_outcomes`): a stopped incarnation's last database call
changes nothing its successor owns. A ``result`` row moves its job SUCCEEDED → DELIVERING
before sending; after the send, marking the row sent with Telegram's message ids, DELIVERING →
DELIVERED (hold captured) and ``job_messages.delivered`` are one transaction.

Errors: ``RetryAfter`` pauses the chat (and every chat, when several are refused at once) and
sends the same row again; timeouts, network errors and 5xx retry with exponential backoff and
jitter (recorded in ``not_before`` and ``attempts``) up to ``max_attempts``; a chat that
refuses the bot (403, chat not found) fails every queued row of it, and its results' jobs end
FAILED undeliverable (hold released); any other refusal fails the row with the error kept.
A result part whose send timed out after Telegram had it is "maybe sent": not sent again; the
job is delivered and the user gets a button to ask for it (``JobMessages.maybe_not_arrived``).
A result that partly reached the chat is never released: the parts that cannot go as media
go as links in one message, and the job is delivered (captured) with what reached the user.
The bot token never appears in a log line or a stored error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pykka
from telegram.error import RetryAfter

from gateways.published import Published
from gateways.telegram.bot_thread import BotThread
from gateways.telegram.delivery_outcomes import Outcomes
from gateways.telegram.delivery_stats import DeliveryPolicy, DeliveryStats
from gateways.telegram.pacer import Pacer, SendGate
from gateways.telegram.send import Item, TelegramSender
from gateways.telegram.send_errors import (
    Redactor,
    Verdict,
    classify,
    flood_wait,
    redact_library_logs,
)
from supervision import SupervisedActor
from trt_actors import (
    BOT_USERNAME_KEY,
    Backoff,
    DatabaseUnavailable,
    DeliveryLoopFailed,
    JobMessages,
    RetryPolicy,
    Store,
    TelegramError,
    Wake,
    jsonb,
    log_context,
    outbox,
)

log = logging.getLogger("trt.delivery")
T = TypeVar("T")
DB_BACKOFF = Backoff(base=0.5, cap=10.0)
"""While the database is down: the loop's rows wait, nothing is lost."""
URGENT, ANY_CLASS = int(outbox.Priority.ANSWER), int(max(outbox.Priority))
"""``delivery_claim``'s ``max_priority``: chats with an answer to what a user just did; all."""
NEVER_AGED = 1e9
"""``delivery_claim``'s ``starve_after`` where waiting must not make a row urgent."""


class DeliveryLoop:
    """The asyncio side: the bot thread, the gate, one worker per chat with queued rows."""

    def __init__(self, token: str, api_url: str, outcomes: Outcomes, settings: DeliveryPolicy,
                 stats: DeliveryStats, redact: Redactor,
                 request_wake: Callable[[], None], on_fatal: Callable[[str], None]) -> None:
        self.outcomes, self.settings, self.stats, self.redact = outcomes, settings, stats, redact
        self.request_wake, self.on_fatal = request_wake, on_fatal
        self.thread = BotThread(token, api_url, redact, read_timeout=settings.read_timeout,
                                media_timeout=settings.download_timeout)
        self.gate = SendGate(Pacer(settings.per_second, settings.per_chat_per_second,
                                   chat_burst=settings.chat_burst),
                             starve_after=settings.starve_after)
        self.gate.pacer.quiet_start(time.monotonic())  # the previous run's last sends count
        self.sender = TelegramSender(self.thread.bot, self.gate,
                                     download_limit=settings.download_limit,
                                     download_timeout=settings.download_timeout,
                                     media_read_timeout=settings.media_read_timeout)
        self.pool = ThreadPoolExecutor(3, thread_name_prefix="delivery-db")
        self.queues: dict[int, deque[Item]] = defaultdict(deque)
        self.workers: dict[int, asyncio.Task[None]] = {}
        self.rng = random.Random()
        # Timeouts, network errors, 5xx: counted attempts of the row, recorded in the outbox.
        self.retry_policy = RetryPolicy(Backoff(settings.backoff_base, settings.backoff_cap,
                                                jitter=(0.5, 1.0)),
                                        max_attempts=settings.max_attempts)
        self._last_429: tuple[int, float] = (0, -1e9)  # (chat, time) of the latest refusal
        self._refill_at = 0.0

    def start(self) -> None:
        self.thread.start()
        self.thread.call_soon(self.thread.spawn, self._tick())

    @property
    def alive(self) -> bool:
        return self.thread.alive

    def stop(self) -> None:
        self.thread.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- hand-off from the actor ---------------------------------------------------------------

    def submit(self, items: list[Item]) -> None:
        """Thread-safe: queue claimed rows (in outbox order)."""
        self.thread.call_soon(self._enqueue, items)

    def _enqueue(self, items: list[Item]) -> None:
        for item in items:
            if not item.counted:
                self.thread.spawn(self._deliver(item))
                continue
            self.queues[item.chat_id].append(item)
            if item.chat_id not in self.workers:
                self.workers[item.chat_id] = self.thread.spawn(self._chat_worker(item.chat_id))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval)
            self.request_wake()

    async def _chat_worker(self, chat_id: int) -> None:
        queue = self.queues[chat_id]
        try:
            while queue:
                item = queue[0]
                # The head goes at the most urgent class of its chat's queue: a button's
                # answer behind a result of the same chat must not wait at the result's class.
                item.priority = min(i.priority for i in queue)
                with log_context(job_id=item.job_id, chat_id=item.chat_id):
                    failed = await self._deliver(item)
                if queue and queue[0] is item:
                    queue.popleft()
                if failed:  # the chat refused the bot: its other rows failed with this one
                    dropped = [i for i in queue if i.id in failed]
                    for i in dropped:
                        queue.remove(i)
                    self.stats.add(queued=-len(dropped))
                now = time.monotonic()
                if self.stats.queued < self.settings.max_queued // 2 and now > self._refill_at:
                    self._refill_at = now + 0.2  # refill early, but claim at most 5 times/s
                    self.request_wake()
        finally:
            self.workers.pop(chat_id, None)
            if not queue:
                self.queues.pop(chat_id, None)

    # --- one row -------------------------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run database work off the loop; wait out a database outage."""
        failures = 0
        while True:
            try:
                return await self.thread.loop.run_in_executor(self.pool, fn, *args)
            except DatabaseUnavailable as exc:
                self.stats.error(str(exc))
                failures += 1
                delay = DB_BACKOFF.delay(failures)
                log.warning("delivery: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)

    async def _deliver(self, item: Item) -> set[int]:
        """Send one row until it is sent or failed; the ids of other rows failed with it."""
        sent: list[int] | None = None
        try:
            go, target = await self._db(self.outcomes.prepare, item)
            while go:
                try:
                    sent = await self.sender.send(item, target)
                except Exception as exc:
                    go, failed = await self._after_error(item, exc)
                    if failed:
                        return failed - {item.id}
                else:
                    await self._db(self.outcomes.sent, item, sent)
                    self.stats.add(sent=1)
                    return set()
            return set()
        except Exception as exc:  # a bug: fail the row rather than stall its chat
            text = self.redact(f"{type(exc).__name__}: {exc}")
            log.error("delivery of outbox %s failed: %s\n%s", item.id, text,
                      self.redact(traceback.format_exc()))
            self.stats.error(text)
            self.stats.add(failures=1)
            if sent is None:  # (a sent row stays 'sending': a restart sends it again)
                try:
                    await self._db(self.outcomes.failed, item, text)
                except Exception as again:
                    log.error("outbox %s: %s", item.id, self.redact(str(again)))
            return set()
        finally:
            self.stats.add(queued=-1)

    async def _after_error(self, item: Item, exc: Exception) -> tuple[bool, set[int]]:
        """Decide after a failed call: ``(send again?, ids failed)``."""
        verdict = classify(exc)
        text = self.redact(f"{type(exc).__name__}: {exc}")[:1000]
        self.stats.error(f"outbox {item.id}: {text}")
        now = time.monotonic()
        if verdict is Verdict.RETRY_AFTER:
            assert isinstance(exc, RetryAfter)
            until = now + flood_wait(exc)
            self.stats.add(too_many=1)
            self.gate.pacer.pause_chat(item.chat_id, until)
            last_chat, last_at = self._last_429
            if last_chat != item.chat_id and now - last_at < 1.0:
                self.gate.pacer.pause_all(until)  # several chats refused: the bot-wide limit
            self._last_429 = (item.chat_id, now)
            self.gate.kick()
            if not item.counted:
                await asyncio.sleep(until - now)
            return True, set()
        if verdict is Verdict.FATAL:
            self.on_fatal(text)
            await asyncio.sleep(self.settings.backoff_cap)
            return True, set()
        decision = self.retry_policy.decide(item.attempts - item.spent,
                                            retryable=verdict is Verdict.RETRY, rng=self.rng)
        if decision.retry:
            item.attempts = await self._db(self.outcomes.retry, item, text, decision.delay)
            self.stats.add(retries=1)
            log.info("delivery: outbox %s attempt failed (%s); retry in %.1f s",
                     item.id, text, decision.delay)
            await asyncio.sleep(decision.delay)
            return True, set()
        if item.reached and verdict is not Verdict.CHAT_GONE:
            return await self._partly_delivered(item, text)
        if verdict is Verdict.CHAT_GONE:
            failed = set(await self._db(self.outcomes.chat_gone, item, text))
        else:
            failed = set(await self._db(self.outcomes.failed, item, text))
        log.info("delivery: outbox %s failed: %s", item.id, text)
        self.stats.add(failures=len(failed))
        return False, failed | {item.id}

    async def _partly_delivered(self, item: Item, text: str) -> tuple[bool, set[int]]:
        """Part of the result reached the chat and the rest cannot go as media: the user
        has (part of) what they paid for, so the job is delivered, never released. The rest
        goes as links in one message; when even that fails, the job settles as it is."""
        if not item.as_links:
            item.as_links, item.spent = True, item.attempts
            log.info("delivery: outbox %s: %s; sending the parts left as links", item.id, text)
            return True, set()
        log.info("delivery: outbox %s: the links failed too (%s); delivered as it is",
                 item.id, text)
        await self._db(self.outcomes.sent, item, item.sent_ids())
        self.stats.add(sent=1, failures=1)
        return False, set()


class Delivery(SupervisedActor):
    """The only writer to Telegram; a permanent child of the node's supervisor.

    ``job_messages`` writes the follow-ups (``delivered``, ``failed``) in the transaction of the
    job's move. Tell it :class:`Wake` after queuing outbox rows; it also looks every
    ``interval`` seconds. ``snapshot()`` may be called from any thread; it is published to
    ``published`` for /status.
    """

    def __init__(self, store: Store, bot_token: str, api_url: str, job_messages: JobMessages, *,
                 per_second: float = 30.0, per_chat_per_second: float = 1.0,
                 published: Published | None = None,
                 parts: Callable[[], list[int] | None] = lambda: None,
                 share: Callable[[float], float] | None = None, **settings: Any) -> None:
        super().__init__()
        self.store = store
        self.parts, self.share = parts, share
        """The partitions whose chats this worker sends to (``None``: all), and its share of
        the bot-wide limit (``Leases``: several workers on one token)."""
        self.settings = DeliveryPolicy(per_second=per_second,
                                 per_chat_per_second=per_chat_per_second, **settings)
        self.redact = Redactor(bot_token)
        self.stats = DeliveryStats()
        self._token, self._api_url = bot_token, api_url.rstrip("/")
        self.outcomes = Outcomes(store, job_messages)
        self.loop: DeliveryLoop | None = None
        if published is not None:
            published.publish(self.snapshot)

    def on_start(self) -> None:
        epoch = self.outcomes.begin()  # from here on, an older incarnation settles nothing
        log.info("delivery: epoch %d", epoch)
        requeued = self.store.run("delivery_requeue", parts=self.parts(), epoch=epoch)
        if requeued:
            log.info("delivery: %d row(s) left sending by the previous run queued again",
                     requeued)
        ref = self.actor_ref

        def request_wake() -> None:
            if ref.actor_inbox.empty():
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.tell(Wake())

        def on_fatal(reason: str) -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(DeliveryLoopFailed(reason))

        redact_library_logs(self.redact)
        self.loop = DeliveryLoop(self._token, self._api_url, self.outcomes, self.settings,
                                 self.stats, self.redact, request_wake, on_fatal)
        if (share := self.share) is not None:
            self.loop.gate.pacer.share = lambda: share(1.0)
        self.loop.start()
        if (username := self.loop.thread.username) is not None:
            # For the chat actors' "talk to me in a private chat: t.me/<bot>" in groups.
            self.store.run("state_set", key=BOT_USERNAME_KEY, value=jsonb(username))
        self._claim()

    def on_stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()

    def on_failure(self, *exc_info: Any) -> None:
        self.on_stop()

    def on_receive(self, message: Any) -> Any:
        match message:
            case Wake():
                try:
                    self._claim()
                except DatabaseUnavailable as exc:
                    log.debug("delivery: %s", exc)
            case DeliveryLoopFailed(reason=reason):
                raise TelegramError(f"delivery cannot go on: {reason}")
            case _:
                log.warning("delivery: unexpected message %r", message)
        return None

    def _claim(self) -> None:
        loop = self.loop
        if loop is None or not loop.alive:
            raise TelegramError("the delivery loop thread is not running")
        s = self.settings
        epoch, parts = self.outcomes.epoch, self.parts()

        # The three claims are one transaction: one commit per look at the outbox.
        with self.store.transaction() as tx:
            def claim(answers: bool, limit: int, max_priority: int) -> list[dict[str, Any]]:
                # Rows that waited ``starve_after`` count as urgent when memory has room, never
                # past it (a backlog ages as a whole: it must not flood memory).
                aged = s.starve_after if max_priority == ANY_CLASS else NEVER_AGED
                return tx.all("delivery_claim", answers=answers, limit=limit,
                              per_chat=0 if answers else s.per_chat_queued,
                              max_priority=max_priority, starve_after=aged, epoch=epoch,
                              parts=parts)

            rows = claim(True, s.batch, ANY_CLASS)
            # Chats with an answer to what a user just did are claimed even when the queue in
            # memory is full of results: a button press never waits for a backlog to drain.
            urgent = claim(False, s.batch, URGENT)
            room = min(s.batch, s.max_queued - self.stats.queued - len(urgent))
            rows += urgent
            if room > 0:
                rows += claim(False, room, ANY_CLASS)
        if not rows:
            return
        items = [Item(r["id"], r["chat_id"], r["job_id"], r["kind"], r["payload"],
                      r["attempts"], r["message_ids"], priority=int(r["priority"]))
                 for r in sorted(rows, key=lambda r: int(r["id"]))]
        self.stats.add(queued=len(items))
        loop.submit(items)

    def snapshot(self) -> dict[str, Any]:
        """Queue depth in memory, sends (total, last 10 s, rate), 429s, failures, last error."""
        out = self.stats.snapshot()
        out.update(epoch=self.outcomes.epoch, limit_per_s=self.settings.per_second,
                   limit_per_chat_per_s=self.settings.per_chat_per_second,
                   chat_burst=self.settings.chat_burst,
                   loop_alive=bool(self.loop and self.loop.alive))
        return out

