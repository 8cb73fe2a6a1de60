"""An emulated Telegram Bot API server for tests and the sandbox (imports nothing from the product).

Start it, point ``telegram.Bot(token, base_url=f"{emu.url}/bot",
base_file_url=f"{emu.url}/file/bot")`` at it (i.e. ``TRT_TELEGRAM_API_URL = emu.url``)::

    emu = TelegramEmulator("123:ABC", seed=1).start()   # own loop thread; returns when listening
    emu.send_text(42, "/start")                          # the user types
    ... the bot polls getUpdates, answers ...
    emu.wait_for_messages(42, 1)                         # what the bot sent to chat 42
    emu.stop()

CLI (:mod:`sandbox.telegram_cli`): ``python -m sandbox.telegram_emulator --port 8091 --token T
[--token T2] [--seed 0] [--no-flood-limits]`` (``python -m sandbox.telegram_cli`` is the same).

Bot API (``/bot<token>/<method>``, GET or POST; query, form, multipart or JSON parameters;
method names case-insensitive). Unknown token -> 401 ``Unauthorized``; unknown method -> 404
``Not Found``; errors are ``{"ok": false, "error_code", "description"[, "parameters":
{"retry_after"}]}``. Methods: getMe, getUpdates, setWebhook / deleteWebhook
(``drop_pending_updates``) / getWebhookInfo (``telegram_webhook``: while a webhook is set,
getUpdates -> 409 as Telegram says it and updates wait), setMyCommands / getMyCommands /
deleteMyCommands, sendMessage, editMessageText, editMessageCaption, editMessageReplyMarkup,
deleteMessage, answerCallbackQuery, sendPhoto, sendVideo, sendAudio, sendDocument,
sendAnimation, sendVoice, sendMediaGroup (2-10 items), sendChatAction, getFile, sendInvoice,
answerPreCheckoutQuery, refundStarPayment.

- getUpdates: ``offset`` forgets every update with a smaller id (negative: keep the last -N);
  ``limit`` 1-100; ``timeout`` long-polls (≤ 50 s) and answers as soon as an update arrives;
  ``allowed_updates`` is remembered, as Telegram does, and filters updates when they are
  *created* ([] = default: all but chat_member / message_reaction*). A new getUpdates while
  another waits answers the OLDER one 409 ``Conflict: terminated by other getUpdates request;
  make sure that only one bot instance is running`` (what Telegram does); the new one proceeds.
  Each such overlap (a getUpdates while another of the bot is in flight) is counted:
  ``poll_overlaps(token)``; a poll whose client went away (a killed process) is not in flight.
- Chats: private (chat id == user id), and groups, supergroups and channels (a negative id of
  their own, opened when a member first writes there: ``send_text(..., chat_id=-100)``; any
  member may press any button in them). Message ids per chat. Sending to a chat nobody
  opened (``strict_chats``) -> 400 ``Bad Request: chat not found``.
- Text: empty -> 400 ``message text is empty``; > 4096 -> ``message is too long``; captions
  > 1024; malformed HTML / MarkdownV2 / Markdown -> 400 ``Bad Request: can't parse entities:
  ...`` (``validate_parse_mode``). The returned Message carries the plain text.
- Edits: same content and markup -> 400 ``message is not modified: ...``; unknown message ->
  400 ``message to edit not found``. Inline buttons: callback_data 1-64 bytes or 400
  ``BUTTON_DATA_INVALID``.
- Media the bot sends: URL, emulator-issued file_id or upload, with Telegram's limits (see
  :mod:`sandbox.telegram_media`). getFile: :mod:`sandbox.telegram_files`.
- Invoices: currency XTR needs exactly one price and no provider_token (else
  ``STARS_INVOICE_INVALID``).
- Blocked user (``block_user``): every call with that chat_id -> 403 ``Forbidden: bot was
  blocked by the user``.
- Flood limits (``flood_limits``, default on), as Telegram's bot FAQ describes them: per bot
  ≤ ``global_per_second`` (30) accepted sends/edits within any ``flood_window`` (1 s); per
  private chat a token bucket of ``per_chat_burst`` (3) refilling ``per_chat_per_second`` (1)
  per window (short bursts, about one a second over time); per group (negative id)
  ≤ ``group_per_minute`` (20) within any 60 s.
  Counted: sendMessage, send<media>, sendMediaGroup (1 per chat, N global), sendInvoice,
  editMessage*. Not counted: answerCallbackQuery, sendChatAction, getUpdates, the rest.
  Violation -> 429 ``Too Many Requests: retry after N`` with ``parameters.retry_after`` = N
  (whole seconds ≥ 1); refused calls consume no slot.

Pipeline order: token -> method -> injected fault -> blocked -> flood -> the method.

User side — Python methods below, and ``/_user/<op>`` (POST a JSON object of the same
arguments, or GET with query args; answer ``{"ok": true, "result": ...}`` or 400
``{"ok": false, "error"}``). Every op takes optional ``token`` (or ``bot`` = bot username,
HTTP only) to choose the bot; default: the first token.

- ``send_text``  {user_id, text, first_name?, language_code?, username?, chat_id?, chat_type?,
  title?} -> {update_id, message_id}. Opens the private chat (or, with a negative
  ``chat_id``, the group of ``chat_type`` group | supergroup | channel). ``/command`` words
  get ``bot_command`` entities.
- ``send_photo`` {user_id, data_base64, caption?} -> {update_id, message_id, file_id}.
- ``send_media`` {user_id, kind photo|document|video|audio|voice, size?, content_b64?, ...}:
  files, albums (``media_group_id``), getFile (20 MB limit) and ``/file/bot<token>/<path>``
  downloads: see :mod:`sandbox.telegram_files`.
- ``press_button`` {user_id, message_id, callback_data, chat_id?} -> {update_id, id}: a
  callback_query update from ``user_id``; the button must be on that bot message (of the
  private chat, or of the group ``chat_id``) now. ``callback_query`` {id} -> {answered,
  answer_text, show_alert, answered_at, ...} tells whether the bot answered it.
- ``pay_invoice`` {user_id, invoice_message_id} -> {update_id, id}: a pre_checkout_query
  update. When the bot answers ``ok=True``, a message update with ``successful_payment``
  {currency, total_amount, invoice_payload, telegram_payment_charge_id (unique),
  provider_payment_charge_id} follows. ``pre_checkout_query`` {id} -> state; ``payments`` ->
  all completed payments; ``replay_payment`` {telegram_payment_charge_id} -> {update_id}: the
  same successful_payment message again under a new update_id (idempotency tests).
- ``inject_update`` {update: {...}} -> {update_id}: any raw update (its update_id is replaced;
  not filtered by allowed_updates).
- ``block`` {user_id, blocked=true}.
- ``messages`` {chat_id, include_user?} -> the chat's messages in order (fields: see
  :func:`sandbox.telegram_users.messages`).

Web chat page (``sandbox.chat_page``): ``GET /chat?user_id=1`` talks to the bot in a browser;
``balance_url`` (constructor argument, a URL template with ``{user_id}``) feeds its balance.

Control: ``GET /_control/stats`` (chat keys are strings) -> {method_calls {method: n},
too_many_requests,
too_many_requests_by_chat {chat: n}, max_global_rate, send_times {chat: [monotonic s]},
max_chat_rate {chat: n}, max_per_chat_rate, faults_injected, active_faults, pending_updates
{bot: n}, polling {bot: bool}, poll_overlaps {bot: n}, next_update_id {bot: n}, webhooks
{bot: url}, config}.
``POST /_control/reset`` (forget chats, messages, updates, payments, faults, blocks,
webhooks, stats; keep config; update ids go on). ``POST /_control/next_update_id``
{update_id, token?|bot?}: the bot's next update id (Telegram's random next id after a week
without updates). Ids are per bot; a fresh emulator starts them far from 1, never reusing a
recent run's (time-based; ``next_update_id=`` chooses).
``POST /_control/faults`` {fault spec} | {"faults": [specs], "clear": bool}; ``GET`` lists.
``POST /_control/config`` {key: value} (see EmulatorConfig: flood_limits, global_per_second,
per_chat_per_second, per_chat_burst, group_per_minute, flood_window, fetch_urls,
fetch_timeout, *_limit, strict_chats, validate_parse_mode, max_poll_timeout). Fault spec
(see FaultSpec): {method ("*" or a name), kind error|flood|timeout|drop|slow, status (502),
retry_after (1), delay (30 s), execute, fraction | count, after (let N through first),
chat_id?, token?, description?}; seeded by ``seed``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from sandbox import telegram_users as users
from sandbox.chat_page import ChatPage
from sandbox.telegram_core import EmulatorCore
from sandbox.telegram_faults import FaultSpec
from sandbox.telegram_files import MediaUserSide
from sandbox.telegram_http import make_app
from sandbox.telegram_model import JSON, BotState, EmulatorConfig

__all__ = ["EmulatorConfig", "FaultSpec", "TelegramEmulator"]

T = TypeVar("T")
MAX_BODY = 60 * 1024 * 1024


class TelegramEmulator(MediaUserSide):
    """The emulator server plus a thread-safe Python API (user side and control)."""

    def __init__(
        self,
        tokens: Iterable[str] | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        flood_limits: bool = True,
        balance_url: str | None = None,
        next_update_id: int | None = None,
        **config: Any,
    ) -> None:
        token_list = [tokens] if isinstance(tokens, str) else list(tokens)
        cfg = EmulatorConfig(flood_limits=flood_limits)
        cfg.update(config)
        self.core = EmulatorCore(token_list, seed, cfg, next_update_id)
        self.chat_page = ChatPage(balance_url)
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._generation = 0
        self.core.on_change = self._notify

    # ----- lifecycle -----------------------------------------------------------------------

    def start(self) -> TelegramEmulator:
        """Serve on a daemon thread with its own event loop; return once listening."""
        self._thread = threading.Thread(target=self._serve, name="telegram-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError("telegram emulator failed to start") from self._error
        return self

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start(); a daemon thread has nobody else
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        self._stop = asyncio.Event()
        sockets = bind_sockets(self._port, self._host)
        server = HTTPServer(make_app(self.core, self.chat_page), max_body_size=MAX_BODY)
        server.add_sockets(sockets)
        self._port = sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        self.core.shutdown()
        self.chat_page.close()
        server.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), 2.0)

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        if self._loop is None or self._stop is None or self._thread is None:
            return
        stop = self._stop
        self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """Base URL: the bot calls ``f"{url}/bot{token}/{method}"``."""
        host = "127.0.0.1" if self._host in ("0.0.0.0", "", "::") else self._host
        return f"http://{host}:{self._port}"

    def chat_url(self, user_id: int = 1) -> str:
        """The web chat page for ``user_id``."""
        return f"{self.url}/chat?user_id={user_id}"

    # ----- thread plumbing -----------------------------------------------------------------

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop thread (state is only touched there) and return its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("telegram emulator is not running")
        if threading.get_ident() == self._thread_id:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def _bot(self, token: str | None) -> BotState:
        return self.core.bot(token)

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` (evaluated on the loop thread) is true, or TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._generation
            # Never hold the condition while waiting on the loop: the loop notifies under it.
            if self._on_loop(predicate):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition not met in time")
            with self._changed:
                if self._generation == seen:
                    self._changed.wait(remaining)

    def wait_for_messages(
        self, chat_id: int, count: int = 1, timeout: float = 5.0, *, token: str | None = None
    ) -> list[JSON]:
        """Wait until the bot has sent ≥ ``count`` messages to ``chat_id``; return them all."""
        self.wait_until(lambda: users.count(self._bot(token), chat_id) >= count, timeout)
        return self.messages(chat_id, token=token)

    def wait_for_poll(self, timeout: float = 5.0, *, token: str | None = None) -> None:
        """Wait until a getUpdates long poll of the bot is waiting for updates."""

        def polling() -> bool:
            waiter = self._bot(token).waiter
            return waiter is not None and not waiter.done()

        self.wait_until(polling, timeout)

    # ----- user side -----------------------------------------------------------------------

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        language_code: str = "en",
        username: str | None = None,
        token: str | None = None,
        chat_id: int | None = None,
        chat_type: str = "group",
        title: str | None = None,
    ) -> JSON:
        """The user types ``text`` -> message update. Returns {update_id, message_id}. With
        ``chat_id`` (negative): in that group (``chat_type`` group | supergroup | channel)."""
        return self._on_loop(lambda: users.send_text(
            self.core, self._bot(token), user_id, text, first_name=first_name,
            language_code=language_code, username=username, chat_id=chat_id,
            chat_type=chat_type, title=title))

    def press_button(
        self, user_id: int, message_id: int, callback_data: str, *, token: str | None = None,
        chat_id: int | None = None,
    ) -> str:
        """Press an inline button -> callback_query update (``chat_id``: on a message in that
        group, any member may). Returns the query id."""
        out = self._on_loop(lambda: users.press_button(
            self.core, self._bot(token), user_id, message_id, callback_data, chat_id=chat_id))
        return str(out["id"])

    def pay_invoice(
        self, user_id: int, invoice_message_id: int, *, token: str | None = None
    ) -> str:
        """Press Pay -> pre_checkout_query update. Returns the query id."""
        out = self._on_loop(lambda: users.pay_invoice(
            self.core, self._bot(token), user_id, invoice_message_id))
        return str(out["id"])

    def replay_payment(self, telegram_payment_charge_id: str, *, token: str | None = None) -> int:
        """Deliver a successful_payment again (new update_id). Returns the update id."""
        return self._on_loop(lambda: users.replay_payment(
            self.core, self._bot(token), telegram_payment_charge_id))

    def inject_update(self, raw: JSON, *, token: str | None = None) -> int:
        """Queue any raw update dict (update_id replaced). Returns the update id."""
        return self._on_loop(lambda: self.core.push_raw(self._bot(token), dict(raw)))

    def block_user(self, user_id: int, blocked: bool = True, *, token: str | None = None) -> None:
        """The user blocks (or unblocks) the bot: calls for that chat -> 403."""
        self._on_loop(lambda: users.set_blocked(self.core, self._bot(token), user_id, blocked))

    def messages(
        self, chat_id: int, *, include_user: bool = False, after: int = 0,
        token: str | None = None,
    ) -> list[JSON]:
        """Messages of the chat in order (the bot's only unless ``include_user``), those with
        a message_id above ``after``."""
        return self._on_loop(
            lambda: users.messages(self._bot(token), chat_id, include_user, after))

    def callback_query(self, query_id: str, *, token: str | None = None) -> JSON:
        """A pressed button's record: answered, answer_text, show_alert, answered_at..."""
        return self._on_loop(lambda: dict(self._bot(token).callback_queries[query_id]))

    def pre_checkout_query(self, query_id: str, *, token: str | None = None) -> JSON:
        """A pay attempt: answered, ok, error_message, telegram_payment_charge_id..."""
        return self._on_loop(lambda: dict(self._bot(token).pre_checkouts[query_id]))

    def payments(self, *, token: str | None = None) -> list[JSON]:
        """Completed payments: successful_payment fields + user_id, update_ids, refunded."""
        return self._on_loop(lambda: [dict(p) for p in self._bot(token).payments.values()])

    def pending_updates(self, *, token: str | None = None) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates offset."""
        return self._on_loop(lambda: [dict(u) for u in self._bot(token).pending])

    def commands(self, *, token: str | None = None) -> list[JSON]:
        """The commands last set by setMyCommands."""
        return self._on_loop(lambda: list(self._bot(token).commands))

    def chat_actions(self, chat_id: int, *, token: str | None = None) -> list[str]:
        """sendChatAction actions received for the chat, in order."""
        return self._on_loop(lambda: list(self._bot(token).chats[chat_id].actions)
                             if chat_id in self._bot(token).chats else [])

    # ----- control -------------------------------------------------------------------------

    def stats(self) -> JSON:
        """Same as GET /_control/stats."""
        return self._on_loop(self.core.stats)

    def reset(self) -> None:
        """Same as POST /_control/reset."""
        self._on_loop(self.core.reset)

    def add_fault(self, method: str = "*", kind: str = "error", **spec: Any) -> None:
        """Inject a fault; arguments as FaultSpec (count=, fraction=, status=, retry_after=...)."""
        fault = FaultSpec.from_json({"method": method, "kind": kind, **spec})
        self._on_loop(lambda: self.core.faults.add(fault))

    def clear_faults(self) -> None:
        self._on_loop(self.core.faults.clear)

    def poll_overlaps(self, token: str | None = None) -> int:
        """getUpdates calls of the bot that came while another was in flight (0: one poller)."""
        return self._on_loop(lambda: self._bot(token).poll_overlaps)

    def set_next_update_id(self, update_id: int, *, token: str | None = None) -> None:
        """Same as POST /_control/next_update_id: the bot's next update gets this id."""
        self._on_loop(lambda: self.core.set_next_update_id(self._bot(token), update_id))

    def configure(self, **values: Any) -> None:
        """Change EmulatorConfig fields at run time (e.g. flood_limits=False)."""
        self._on_loop(lambda: self.core.config.update(values))


if __name__ == "__main__":
    # ``python -m sandbox.telegram_emulator`` still starts the server; the CLI is its own module.
    from sandbox.telegram_cli import main

    main()
