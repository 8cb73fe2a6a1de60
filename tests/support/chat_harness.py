"""The chat pipeline for integration tests: real PostgreSQL, real chat and job actors.

``ChatHarness`` wires ``trt_actors.actors.chat`` as the node does (catalog, job messages,
the job router) with a scripted KIE port behind the job actors (the only stand-in: tests
here are about the conversation and the ledger, not HTTP), and plays Telegram's side the
way the intake does: each update is stored in the update inbox with the intake's own query,
then routed to its chat actor. Replies are read from the outbox, as the delivery actor would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support import waiting
from trt_actors.actors.chat import ChatDeps, chat_router
from trt_actors.actors.janitor import Janitor, JanitorPolicy
from trt_actors.actors.job import JobDeps, SubmitPolicy, job_router
from trt_actors.actors.router import Router
from trt_actors.actors.ticker import Ticker
from trt_actors.catalog.live import LiveCatalog
from trt_actors.catalog.model import load_catalog
from trt_actors.catalog.validation import validate_input
from trt_actors.conversation.job_messages import JobMessages
from trt_actors.domain.admin import AccountPolicy
from trt_actors.domain.alerts import Alerts
from trt_actors.infra.retry import Backoff
from trt_actors.infra.store import Row, Store
from trt_actors.messages import UpdateReceived

CATALOG = load_catalog()
ADMIN = 900
"""The admin's user (and private chat) id."""
BOT_ID = 4242
"""The bot whose updates these are (the update inbox is keyed by bot)."""


class BlockingKie:
    """A ``KiePort`` whose createTask answers task ids, one per call (``T1``, ``T2`` ...),
    after ``gate`` (when given) returns: a test holds a call in flight with it."""

    create_window = 10.0

    def __init__(self, gate: Callable[[], None] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.gate = gate

    def create_budget(self) -> int:
        return 1_000_000

    def create_task(self, family: str, model_id: str, input: Mapping[str, Any],
                    callback_url: str | None) -> str:
        self.calls.append({"model": model_id, "input": dict(input)})
        if self.gate is not None:
            self.gate()
        return f"T{len(self.calls)}"


@dataclass
class ChatOptions:
    free_daily_limit: int = 10
    welcome_credits: int = 20
    update_attempts: int = 5
    retry: Backoff = field(default_factory=lambda: Backoff(0.05, 0.2, jitter=(1.0, 1.0)))
    janitor: JanitorPolicy | None = None
    account: AccountPolicy = field(default_factory=AccountPolicy)


class ChatHarness:
    """Chat and job actors on one store; ``close()`` stops them."""

    def __init__(self, store: Store, options: ChatOptions | None = None,
                 kie: BlockingKie | None = None) -> None:
        o = options or ChatOptions()
        self.store = store
        self.kie = kie or BlockingKie()
        self.alerts = Alerts(cooldown=60)
        self.messages = JobMessages(CATALOG)
        self.jobs: Router = job_router(JobDeps(
            store=store, kie=self.kie, job_messages=self.messages, alerts=self.alerts,
            validate=lambda model_id, values: validate_input(CATALOG.get(model_id), values),
            policy=SubmitPolicy(callback_base_url=None, first_poll=60.0)))
        self.chats: Router = chat_router(ChatDeps(
            store=store, catalog=LiveCatalog(CATALOG), jobs=self.jobs,
            job_messages=self.messages,
            admin_ids=frozenset({ADMIN}), welcome_credits=o.welcome_credits,
            free_daily_limit=o.free_daily_limit, wake_delivery=lambda: None,
            alerts=self.alerts, update_retry=o.retry, update_attempts=o.update_attempts,
            account=o.account))
        self.ticker = Ticker()
        self.janitor = None
        if o.janitor is not None:
            self.janitor = Janitor.start(store, self.jobs, lambda body: None, self.ticker,
                                         o.janitor, chats=self.chats)
        self._next_update = 1

    def close(self) -> None:
        """Stop everything (again: nothing)."""
        if self.janitor is not None:
            self.janitor.stop()
            self.janitor = None
        self.chats.close()
        self.jobs.close()
        self.ticker.stop()

    # --- Telegram's side ----------------------------------------------------------------------

    def _deliver(self, chat: int, update: dict[str, Any]) -> int:
        """Store one update as the intake stores a getUpdates batch, route it; its inbox id."""
        telegram_id = self._next_update
        self._next_update += 1
        update = {"update_id": telegram_id, **update}
        with self.store.transaction() as tx:
            rows = tx.all("updates_store", bot_id=BOT_ID, updates=json.dumps(
                [{"update_id": telegram_id, "chat_id": chat, "payload": update}]))
        update_id = int(rows[0]["update_id"])
        self.chats.route(chat, UpdateReceived(update_id, chat))
        return update_id

    @staticmethod
    def _message(user: int, **content: Any) -> dict[str, Any]:
        return {"message": {"message_id": 1, "chat": {"id": user, "type": "private"},
                            "from": {"id": user, "language_code": "en"}, **content}}

    def send(self, user: int, text: str) -> int:
        """The user writes ``text`` in their private chat; the update id."""
        return self._deliver(user, self._message(user, text=text))

    def pay(self, user: int, charge_id: str, stars: int = 50) -> int:
        """A Stars ``successful_payment`` for the 50-star pack."""
        return self._deliver(user, self._message(user, successful_payment={
            "currency": "XTR", "total_amount": stars, "invoice_payload": f"topup:{stars}:{stars}",
            "telegram_payment_charge_id": charge_id}))

    def press(self, user: int, data: str, message_id: int = 1) -> int:
        """The user presses the button with callback ``data`` on message ``message_id``."""
        return self._deliver(user, {"callback_query": {
            "id": f"q{self._next_update}", "from": {"id": user, "language_code": "en"},
            "data": data, "message": {"message_id": message_id,
                                      "chat": {"id": user, "type": "private"}}}})

    # --- what the user and the operator see ---------------------------------------------------

    def update(self, update_id: int) -> Row:
        with self.store.transaction() as tx:
            rows = tx.raw("SELECT * FROM telegram_updates WHERE update_id = %(u)s",
                          {"u": update_id})
        return rows[0]

    def handled(self, update_id: int, timeout: float = 10.0) -> Row:
        return waiting.wait_until(lambda: (row := self.update(update_id))["handled_at"] and row,
                                  timeout, f"update {update_id} handled")

    def texts(self, chat: int) -> list[str]:
        with self.store.transaction() as tx:
            rows = tx.raw("SELECT payload FROM outbox WHERE chat_id = %(c)s AND kind = 'text' "
                          "ORDER BY id", {"c": chat})
        return [str(r["payload"].get("text", "")) for r in rows]

    def replies_to(self, update_id: int) -> list[str]:
        """The text replies the handling of one update queued."""
        with self.store.transaction() as tx:
            rows = tx.raw("SELECT payload FROM outbox WHERE kind = 'text' "
                          "AND dedup_key LIKE %(k)s ORDER BY id", {"k": f"upd:{update_id}:%"})
        return [str(r["payload"].get("text", "")) for r in rows]

    def confirm_button(self, update_id: int) -> str:
        """The callback data of the confirm button the handling of ``update_id`` showed."""
        with self.store.transaction() as tx:
            rows = tx.raw("SELECT payload FROM outbox WHERE dedup_key LIKE %(k)s "
                          "AND payload ? 'buttons' ORDER BY id DESC", {"k": f"upd:{update_id}:%"})
        assert rows, f"update {update_id} showed no buttons"
        return str(rows[0]["payload"]["buttons"][0][0]["data"])

    def sql(self, text: str, **params: Any) -> list[Row]:
        with self.store.transaction() as tx:
            return tx.raw(text, params or None)
