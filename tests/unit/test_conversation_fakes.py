"""Test support for the conversation engine: an in-memory ChatContext and a chat driver.

No tests live here; the ``test_conversation*.py`` modules import these helpers.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from trt_actors.catalog import DEFAULT_CREDITS_PER_KIE_CREDIT
from trt_actors.catalog.model import Catalog, load_catalog
from trt_actors.conversation.engine import (
    Answer,
    Button,
    ButtonPressed,
    Command,
    ConfirmResult,
    Event,
    InvoiceReply,
    JobResult,
    JobSummary,
    MediaSent,
    PaymentReceived,
    Reply,
    Text,
    handle,
)
from trt_actors.conversation.types import TopupSummary
from trt_actors.errors import FreeLimitReached, InsufficientCredits, NotFound

CATALOG: Catalog = load_catalog()


@dataclass
class FakeContext:
    """What the chat actor does with PostgreSQL, in memory (one user, one chat)."""

    user_id: int = 7
    chat_id: int = 70
    is_admin: bool = False
    credits: int = 100
    free_limit: int | None = None
    jobs: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)
    charges: set[str] = field(default_factory=set)
    others: dict[int, int] = field(default_factory=lambda: {42: 5})
    confirm_calls: int = 0
    transfers: list[dict[str, Any]] = field(default_factory=list)
    popular: list[str] = field(default_factory=list)
    """Model ids as the last days' confirmed jobs rank them."""
    model_settings: dict[str, tuple[bool, int | None]] = field(default_factory=dict)
    """What admins set: model id -> (enabled, price override)."""
    life: str = "run-1"
    topups: list[TopupSummary] = field(default_factory=list)

    def balance(self) -> int:
        return self.credits

    def confirm_job(
        self, model_id: str, inputs: dict[str, Any], price: int, idempotency_key: str,
        *, files: list[dict[str, Any]] | None = None,
    ) -> ConfirmResult:
        self.confirm_calls += 1
        self.confirmed_files = list(files or [])
        if idempotency_key in self.keys:
            return ConfirmResult(self.keys[idempotency_key], False)
        used_free = sum(1 for j in self.jobs if j["price"] == 0)
        if price == 0 and self.free_limit is not None and used_free >= self.free_limit:
            raise FreeLimitReached(self.user_id, self.free_limit)
        if price > self.credits:
            raise InsufficientCredits(self.user_id, price)
        self.credits -= price
        job_id = len(self.jobs) + 1
        self.jobs.append({"id": job_id, "model": model_id, "inputs": copy.deepcopy(inputs),
                          "price": price, "state": "created", "failure": None, "urls": ()})
        self.keys[idempotency_key] = job_id
        return ConfirmResult(job_id, True)

    def recent_jobs(self, limit: int) -> list[JobSummary]:
        start = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)
        return [
            JobSummary(job_id=j["id"], model_id=j["model"], state=j["state"], price=j["price"],
                       result_urls=tuple(j["urls"]),
                       created_at=start + timedelta(minutes=j["id"]), failure=j["failure"])
            for j in reversed(self.jobs)
        ][:limit]

    def job_result(self, job_id: int) -> JobResult | None:
        for j in self.jobs:
            if j["id"] == job_id and j["state"] == "delivered" and j["urls"]:
                return JobResult(j["id"], j["model"], copy.deepcopy(j["inputs"]),
                                 tuple(j["urls"]), float(j.get("age_s", 60.0)),
                                 j.get("task_id"), tuple(j.get("result_ids") or ()))
        return None  # another user's, not delivered, or gone with the retention

    def cancel_pending_job(self) -> int | None:
        for job in reversed(self.jobs):
            if job["state"] == "created":
                job.update(state="failed", failure="cancelled")
                self.credits += job["price"]
                return int(job["id"])
        return None

    def grant(self, target_user_id: int, amount: int) -> int:
        if target_user_id not in self.others:
            raise NotFound(f"user {target_user_id} not found")
        self.others[target_user_id] += amount
        return self.others[target_user_id]

    def credit_topup(self, charge_id: str, credits: int) -> bool:
        if charge_id in self.charges:
            return False
        self.charges.add(charge_id)
        self.credits += credits
        self.topups.insert(0, TopupSummary(credits, datetime(2025, 1, 2, 12, 0, tzinfo=UTC)))
        return True

    def recent_topups(self, limit: int) -> list[TopupSummary]:
        return self.topups[:limit]

    def stats(self) -> dict[str, Any]:
        return {"users": 3, "jobs": {"delivered": 5, "failed": 1}}

    def transfer_file(self, transfer_id: str, file_id: str, *, size: int | None,
                      mime_type: str | None, name_hint: str) -> None:
        self.transfers.append({"id": transfer_id, "file_id": file_id, "size": size,
                               "mime_type": mime_type, "name": name_hint})

    def popular_models(self, limit: int) -> list[str]:
        return self.popular[:limit]

    def set_model_enabled(self, model_id: str, enabled: bool) -> Catalog:
        self.model_settings[model_id] = (enabled, self.model_settings.get(model_id,
                                                                          (True, None))[1])
        return self.effective()

    def set_model_price(self, model_id: str, price: int | None) -> Catalog:
        self.model_settings[model_id] = (self.model_settings.get(model_id, (True, None))[0],
                                         price)
        return self.effective()

    def effective(self) -> Catalog:
        """The catalog with what admins set, as the chat actor would read it."""
        return CATALOG.with_pricing(
            DEFAULT_CREDITS_PER_KIE_CREDIT,
            {m: p for m, (_, p) in self.model_settings.items() if p is not None},
            [m for m, (on, _) in self.model_settings.items() if not on])


class Chat:
    """Drives ``handle`` like the chat actor: state through JSON after every event.

    Every step also checks the promises any screen must keep: the input state is not
    mutated, the new state survives json round-trip, button data fits Telegram's 64 bytes.
    """

    def __init__(self, ctx: FakeContext | None = None, *, language_code: str | None = "en",
                 catalog: Catalog = CATALOG) -> None:
        self.ctx = ctx or FakeContext()
        self.language_code = language_code
        self.catalog = catalog
        self.state: dict[str, Any] = {}
        self.last: list[Answer] = []
        self.keyboard: tuple[tuple[Button, ...], ...] = ()
        self.all_data: list[str] = []

    def send(self, event: Event) -> list[Answer]:
        before = copy.deepcopy(self.state)
        given = self.state
        new, replies = handle(self.catalog, given, event, self.ctx,
                              language_code=self.language_code)
        assert given == before, "handle mutated the state it was given"
        self.state = json.loads(json.dumps(new))
        assert self.state == new, "state did not survive a JSON round-trip"
        for reply in replies:
            if isinstance(reply, Reply) and reply.buttons:
                self.keyboard = reply.buttons
                for row in reply.buttons:
                    for button in row:
                        assert len(button.data.encode()) <= 64, button
                        self.all_data.append(button.data)
        self.last = replies
        return replies

    def cmd(self, name: str, args: str = "") -> list[Answer]:
        return self.send(Command(name, args))

    def type(self, text: str) -> list[Answer]:
        return self.send(Text(text))

    def media(self, kind: str = "photo") -> list[Answer]:
        return self.send(MediaSent(kind))

    def pay(self, charge_id: str, payload: str, stars: int) -> list[Answer]:
        return self.send(PaymentReceived(charge_id, payload, stars))

    def button(self, label: str) -> Button:
        """The button on the newest keyboard whose label contains ``label``."""
        for row in self.keyboard:
            for button in row:
                if label in button.label:
                    return button
        raise AssertionError(f"no button {label!r} in {self.labels()}")

    def press(self, label: str) -> list[Answer]:
        return self.send(ButtonPressed(self.button(label).data, message_id=1))

    def press_data(self, data: str) -> list[Answer]:
        return self.send(ButtonPressed(data, message_id=1))

    def labels(self) -> list[str]:
        return [b.label for row in self.keyboard for b in row]

    def text(self) -> str:
        """All reply texts of the last event, joined."""
        return "\n".join(r.text if isinstance(r, Reply) else
                         r.title if isinstance(r, InvoiceReply) else r.caption for r in self.last)

    def screen(self) -> tuple[str, list[list[str]]]:
        """The last reply with buttons: its text and button labels (menu ids left out)."""
        for reply in reversed(self.last):
            if isinstance(reply, Reply) and reply.buttons:
                return reply.text, [[b.label for b in row] for row in reply.buttons]
        raise AssertionError(f"no screen in {self.last}")
