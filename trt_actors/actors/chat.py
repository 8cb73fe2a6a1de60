"""The per-chat actor: one Telegram update at a time, exactly once.

Each update is handled in ONE transaction: the chat's session state is locked and loaded,
the conversation engine decides, and the new state, every reply (as outbox rows), any job
it confirmed (with its credit hold and progress message) and the update's "handled" mark
commit together. A crash before the commit leaves the update unhandled, and it is handled
again after the restart from the same state; after the commit, nothing is repeated.

An update whose handling fails (its transaction rolled back) is recorded as a failed attempt
and handed again by the janitor after a backoff, while the node runs; one that fails
``update_attempts`` times is parked as poison (an operator alert, counted on /status) and
never handed again, so the chat's later updates go on.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from trt_actors.actors.chat_context import DbChatContext, effective_catalog
from trt_actors.actors.chat_rules import handle_outside
from trt_actors.actors.router import Router, VirtualActor
from trt_actors.catalog.live import LiveCatalog
from trt_actors.conversation import desk
from trt_actors.conversation import engine as conversation
from trt_actors.conversation.engine import (
    ButtonPressed,
    Command,
    Event,
    FileFailed,
    FileReady,
    InvoiceReply,
    MediaReply,
    MediaSent,
    PaymentReceived,
    Reply,
    Text,
    texts,
)
from trt_actors.conversation.job_messages import JobMessages
from trt_actors.domain import admin, ledger, outbox, referrals
from trt_actors.domain.alerts import Alerts
from trt_actors.errors import DatabaseUnavailable, StaleLease, StoreError
from trt_actors.infra.retry import Backoff
from trt_actors.infra.store import Store, Tx, jsonb
from trt_actors.messages import (
    FileTransferFailed,
    FileTransferred,
    SubmitJob,
    TransferFile,
    UpdateReceived,
)
from trt_actors.ports import TransferPort

log = logging.getLogger("trt.chat")

POISON_UPDATES = "poison_updates"
"""The alert key of updates parked as poison."""
UPDATE_RETRY = Backoff(2.0, 300.0, jitter=(0.8, 1.2))
"""The wait before handling a failed update again: 2, 4, 8, 16 s ... with jitter."""


@dataclass(frozen=True, slots=True)
class ChatDeps:
    store: Store
    catalog: LiveCatalog
    """The effective catalog, read in each update's transaction (the operator's prices and
    switches as of that moment)."""
    jobs: Router
    job_messages: JobMessages
    admin_ids: frozenset[int]
    welcome_credits: int
    free_daily_limit: int
    wake_delivery: Callable[[], None]
    alerts: Alerts | None = None
    """Where a poison update is raised for the operator (the node's alerts)."""
    update_retry: Backoff = UPDATE_RETRY
    """The wait before handling a failed update again (``UPDATE_RETRY`` by default)."""
    update_attempts: int = 5
    """Failed handlings after which an update is parked as poison (never tried again)."""
    transfers: TransferPort | None = None
    """Brings files users send to KIE (the edge's transfer pool); None: files are refused."""
    life: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    """This run of the node: a file transfer started by another run (before a restart)
    will never answer, and must not hold the wizard."""
    account: admin.AccountPolicy = field(default_factory=admin.AccountPolicy)
    """Per-user limits, promo code tries, /terms and /paysupport texts (issue 14)."""


def chat_router(deps: ChatDeps, *, max_active: int = 16) -> Router:
    def factory(key: Hashable, router: Router) -> Any:
        return ChatActor.start(key, router, deps)

    return Router("chat", factory, max_active=max_active)


def event_of(update: dict[str, Any]) -> tuple[Event | None, dict[str, Any] | None, str | None]:
    """(event, the Telegram user dict, callback query id) for the update kinds we handle."""
    if (query := update.get("callback_query")) is not None:
        message = query.get("message") or {}
        return (ButtonPressed(str(query.get("data") or ""), int(message.get("message_id") or 0)),
                query.get("from"), str(query.get("id")))
    message = update.get("message")
    if message is None:
        return None, None, None
    user = message.get("from")
    if (paid := message.get("successful_payment")) is not None:
        return (PaymentReceived(str(paid.get("telegram_payment_charge_id")),
                                str(paid.get("invoice_payload")),
                                int(paid.get("total_amount") or 0)), user, None)
    text = message.get("text")
    if isinstance(text, str):
        if text.startswith("/"):
            head, _, args = text[1:].partition(" ")
            return Command(head.split("@", 1)[0].lower(), args.strip()), user, None
        return Text(text), user, None
    for kind in ("photo", "document", "video", "audio", "voice", "sticker", "animation"):
        if kind in message:
            return media_event(kind, message), user, None
    return None, user, None


def media_event(kind: str, message: dict[str, Any]) -> MediaSent:
    """A photo (its largest size), document, video, audio or voice note as ``MediaSent``."""
    item = message.get(kind)
    if isinstance(item, list):  # a photo: its sizes, the largest last
        item = item[-1] if item else None
    if not isinstance(item, dict):
        return MediaSent(kind)

    def number(key: str) -> int | None:
        value = item.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def text(key: str) -> str | None:
        value = item.get(key)
        return value if isinstance(value, str) and value else None

    group = message.get("media_group_id")
    return MediaSent(kind, file_id=text("file_id"), file_unique_id=text("file_unique_id"),
                     size=number("file_size"), mime_type=text("mime_type"),
                     file_name=text("file_name"), duration=number("duration"),
                     media_group_id=str(group) if group else None,
                     caption=message.get("caption") if isinstance(message.get("caption"), str)
                     else None)


class ChatActor(VirtualActor):
    """The actor for one chat id."""

    def __init__(self, key: Hashable, router: Router, deps: ChatDeps) -> None:
        super().__init__(key, router)
        self.deps = deps

    def handle(self, message: Any) -> None:
        match message:
            case UpdateReceived():
                self._update(message)
            case FileTransferred() | FileTransferFailed():
                self._transferred(message)
            case _:
                log.warning("chat %s: unexpected message %r", self.key, message)

    def _update(self, message: UpdateReceived) -> None:
        try:
            self._handle_once(message)
        except StaleLease:
            raise  # not the update's fault: its chat's new owner handles it
        except Exception as exc:
            self._failed(message, exc)
            raise  # logged and counted by the router as the actor's failure

    def _failed(self, message: UpdateReceived, exc: Exception) -> None:
        """Record a failed handling: due again after the backoff, or parked as poison."""
        deps = self.deps
        # The database being down is not the update's fault: it does not count as an attempt
        # (and if even this write fails, the row is due again a minute after it arrived).
        counted = not isinstance(exc, DatabaseUnavailable)
        delays = [deps.update_retry.delay(n) for n in range(1, deps.update_attempts + 1)]
        error = f"{type(exc).__name__}: {exc}"[:1000]
        try:
            row = deps.store.one("update_failed", update_id=message.update_id, error=error,
                                 counted=counted, delays=delays,
                                 max_attempts=deps.update_attempts)
        except StoreError as again:
            log.warning("update %s: failure not recorded (%s)", message.update_id, again)
            return
        if row is None or not row["poison"]:
            return
        text = (f"update {message.update_id} of chat {message.chat_id} failed "
                f"{row['attempts']} times and was parked as poison: {error}")
        log.error("%s", text)
        if deps.alerts is not None:
            deps.alerts.raise_(POISON_UPDATES, text)

    def _transferred(self, message: FileTransferred | FileTransferFailed) -> None:
        """A transfer's outcome: the engine takes it in the chat's own transaction."""
        chat_id = int(self.key)  # type: ignore[call-overload]
        event: Event = (FileReady(message.transfer_id, message.url, message.uploaded_at)
                        if isinstance(message, FileTransferred)
                        else FileFailed(message.transfer_id, message.reason))
        transfers: list[TransferFile] = []
        with self.deps.store.transaction() as tx:
            row = tx.one("session_load_owner", chat_id=chat_id)
            if row is None or row["user_id"] is None:
                return
            user_id, language = int(row["user_id"]), row["language"]
            ctx = DbChatContext(tx, self.deps, user_id=user_id, chat_id=chat_id,
                                language=texts.lang_for(language), update_id=0)
            state, answers = conversation.handle(effective_catalog(tx, self.deps), row["state"],
                                                 event, ctx, language_code=language)
            transfers.extend(ctx.transfers)
            tx.run("session_save", chat_id=chat_id, user_id=user_id, state=jsonb(state))
            for i, answer in enumerate(answers):
                self._queue(tx, chat_id, answer, None, f"xfer:{message.transfer_id}:{i}")
        self._start_transfers(transfers)
        self.deps.wake_delivery()

    def _start_transfers(self, transfers: list[TransferFile]) -> None:
        for request in transfers:
            if self.deps.transfers is None:
                self.router.route(self.key, FileTransferFailed(
                    request.chat_id, request.transfer_id, "kie"))
            else:
                self.deps.transfers.start(request)

    def _handle_once(self, message: UpdateReceived) -> None:
        confirmed: list[int] = []
        transfers: list[TransferFile] = []
        with self.deps.store.transaction() as tx:
            row = tx.one("update_get", update_id=message.update_id)
            if row is None or row["handled_at"] is not None:
                return  # replayed after it was handled: nothing to do, nothing to resend
            self._handle_update(tx, message.update_id, row["payload"], confirmed, transfers)
            tx.run("update_handled", update_id=message.update_id)
        for job_id in confirmed:
            self.deps.jobs.route(job_id, SubmitJob(job_id))
        self._start_transfers(transfers)
        self.deps.wake_delivery()

    def _handle_update(self, tx: Tx, update_id: int, update: dict[str, Any],
                       confirmed: list[int], transfers: list[TransferFile]) -> None:
        chat_id = int(self.key)  # type: ignore[call-overload]
        if (query := update.get("pre_checkout_query")) is not None:
            self._pre_checkout(tx, chat_id, update_id, query)
            return
        event, user, query_id = event_of(update)
        # Groups (private chats only) and the "send it again" button: answered here.
        handled = handle_outside(tx, self.deps, chat_id=chat_id, update_id=update_id,
                                 update=update, event=event, user=user)
        if query_id is not None:
            ack: dict[str, Any] = {"callback_query_id": query_id}
            if handled is not None and handled.answer:
                ack["text"] = handled.answer
            outbox.add(tx, chat_id, "answer_callback", ack, dedup_key=f"upd:{update_id}:answer")
        if handled is not None or event is None or user is None:
            return
        user_id = int(user["id"])
        language_code = user.get("language_code")
        welcome = None
        invited = False
        if ledger.ensure_user(tx, user_id, texts.lang_for(language_code)):
            welcome = self._welcome(tx, user_id, language_code)
            if isinstance(event, Command) and event.name == "start":  # t.me/<bot>?start=ref_…
                invited = referrals.bind(tx, user_id, event.args) is not None
        admin.seen(tx, user_id, user.get("username"))
        state_row = tx.one("session_load", chat_id=chat_id)
        if self._desk(tx, chat_id, user_id, update_id, update, event, user,
                      state_row["state"] if state_row else None, welcome):
            return
        ctx = DbChatContext(tx, self.deps, user_id=user_id, chat_id=chat_id,
                            language=texts.lang_for(language_code), update_id=update_id)
        ctx.growth.invited = invited
        state, answers = conversation.handle(
            effective_catalog(tx, self.deps), state_row["state"] if state_row else None, event,
            ctx, language_code=language_code)
        confirmed.extend(ctx.confirmed)
        transfers.extend(ctx.transfers)
        tx.run("session_save", chat_id=chat_id, user_id=user_id, state=jsonb(state))
        pressed = event.message_id if isinstance(event, ButtonPressed) else None
        if welcome is not None:
            # One message per answer: the welcome goes on top of the first new message (the
            # menu, for /start), or alone when the answer edits one or is an invoice.
            first = answers[0] if answers else None
            if isinstance(first, Reply) and not (first.replace and pressed):
                answers[0] = dataclasses.replace(first, text=f"{welcome}\n\n{first.text}")
            else:
                outbox.add(tx, chat_id, "text", {"text": welcome},
                           dedup_key=f"upd:{update_id}:welcome")
        for i, answer in enumerate(answers):
            self._queue(tx, chat_id, answer, pressed, f"upd:{update_id}:{i}")

    def _desk(self, tx: Tx, chat_id: int, user_id: int, update_id: int,
              update: dict[str, Any], event: Event, user: dict[str, Any],
              state: dict[str, Any] | None, welcome: str | None) -> bool:
        """Admin and account commands (``conversation.desk``): True when answered there (a
        new user's welcome line first, on its own)."""
        chosen = (state or {}).get("lang")
        d = desk.Desk(tx, effective_catalog(tx, self.deps), self.deps.account,
                      self.deps.admin_ids,
                      user_id=user_id, chat_id=chat_id, update_id=update_id,
                      lang=texts.lang_for(chosen or user.get("language_code")),
                      username=user.get("username"))
        if not desk.handle(d, event, update):
            return False
        if welcome is not None:
            outbox.add(tx, chat_id, "text", {"text": welcome},
                       dedup_key=f"upd:{update_id}:welcome")
        pressed = event.message_id if isinstance(event, ButtonPressed) else None
        for i, answer in enumerate(d.replies):
            self._queue(tx, chat_id, answer, pressed, f"upd:{update_id}:{i}")
        return True

    def _welcome(self, tx: Tx, user_id: int, language_code: str | None) -> str | None:
        """Grant a new user's welcome credits; the line telling them (None: no grant)."""
        amount = self.deps.welcome_credits
        if amount > 0 and ledger.apply(tx, user_id, ledger.Entry.GRANT, amount,
                                       f"welcome:{user_id}", note="welcome grant"):
            return texts.welcome_grant(texts.lang_for(language_code), amount)
        return None

    def _pre_checkout(self, tx: Tx, chat_id: int, update_id: int, query: dict[str, Any]) -> None:
        payload = str(query.get("invoice_payload") or "")
        pack = conversation.pack_for_payload(payload)
        payer = (query.get("from") or {}).get("id")
        banned = isinstance(payer, int) and desk.is_banned_user(tx, payer, self.deps.admin_ids)
        ok = pack is not None and int(query.get("total_amount") or 0) == pack.stars \
            and query.get("currency") == "XTR" and not banned
        answer: dict[str, Any] = {"query_id": str(query.get("id")), "ok": ok}
        if not ok:
            lang = texts.lang_for((query.get("from") or {}).get("language_code"))
            answer["error_message"] = texts.t(lang, "banned") if banned \
                else texts.menu_expired(lang)
        outbox.add(tx, chat_id, "answer_precheckout", answer, dedup_key=f"upd:{update_id}:pcq")

    def _queue(self, tx: Tx, chat_id: int, answer: Reply | InvoiceReply | MediaReply,
               pressed: int | None, dedup_key: str) -> None:
        if isinstance(answer, MediaReply):  # files Telegram has: sent again by file_id
            outbox.add(tx, chat_id, "history", {
                "files": [{"media": m, "file_id": f} for m, f in answer.files],
                "caption": answer.caption,
                "buttons": [[{"label": label, "data": data} for label, data in row]
                            for row in answer.buttons]}, dedup_key=dedup_key)
            return
        if isinstance(answer, InvoiceReply):
            outbox.add(tx, chat_id, "invoice", {
                "title": answer.title, "description": answer.description,
                "payload": answer.payload, "stars": answer.stars}, dedup_key=dedup_key)
            return
        payload: dict[str, Any] = {"text": answer.text}
        if answer.buttons:
            payload["buttons"] = [[{"label": b.label, "data": b.data} for b in row]
                                  for row in answer.buttons]
        if answer.replace and pressed:
            payload["edit_message_id"] = pressed
        outbox.add(tx, chat_id, "text", payload, dedup_key=dedup_key)

