"""The desk: commands answered straight from the database, inside the chat actor's
transaction for the update, before (instead of) the conversation engine.

Admin commands and the admin panel's buttons (``conversation.admin``), and the account
commands every user has: ``/promo CODE``, ``/paysupport``, ``/terms``. None of them touches
the chat's session (no menu ids): the panel's buttons carry their action in the callback data
(``adm:...``, well under Telegram's 64 bytes) and are checked against ``TRT_ADMIN_IDS`` on
every press. A banned user gets one line (``banned``) and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trt_actors.catalog.model import Catalog
from trt_actors.conversation import texts
from trt_actors.conversation.types import Button, ButtonPressed, Command, Event, Reply
from trt_actors.domain import admin as admin_db
from trt_actors.domain import outbox, promo
from trt_actors.domain.admin import AccountPolicy
from trt_actors.infra.store import Tx

ADMIN_PREFIX = "adm:"
"""Callback data of the admin panel's buttons: ``adm:<verb>[:<arg>]``."""
ADMIN_COMMANDS = frozenset({"admin", "user", "adjust", "ban", "unban", "refund", "newpromo"})
ACCOUNT_COMMANDS = frozenset({"promo", "paysupport", "terms"})


@dataclass
class Desk:
    """One update's worth of desk work: who asks, where, and the replies."""

    tx: Tx
    catalog: Catalog
    policy: AccountPolicy
    admin_ids: frozenset[int]
    user_id: int
    chat_id: int
    lang: str
    update_id: int
    username: str | None = None
    replies: list[Reply] = field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return self.user_id in self.admin_ids

    def t(self, key: str, **values: Any) -> str:
        return texts.t(self.lang, key, **values)

    def credits(self, n: int) -> str:
        return texts.credits(self.lang, n)

    def say(self, text: str, rows: list[list[tuple[str, str]]] | None = None, *,
            replace: bool = False) -> None:
        buttons = tuple(tuple(Button(label, data) for label, data in row) for row in rows or ())
        self.replies.append(Reply(text=text[:4000], buttons=buttons, replace=replace))

    def notify(self, user_id: int, key: str, **values: Any) -> None:
        """A line to another user (in their language), once per update and user."""
        row = self.tx.one("user_get", user_id=user_id)
        lang = texts.lang_for(row["language"] if row else None)
        values = {k: texts.credits(lang, v) if k in ("credits", "balance") else v
                  for k, v in values.items()}
        outbox.add(self.tx, user_id, "text", {"text": texts.t(lang, key, **values)},
                   dedup_key=f"desk:{self.update_id}:{user_id}:{key}")


def is_banned_user(tx: Tx, user_id: int, admin_ids: frozenset[int]) -> bool:
    """Banned, and not an admin (an admin is never locked out)."""
    return user_id not in admin_ids and admin_db.is_banned(tx, user_id)


def handle(d: Desk, event: Event, update: dict[str, Any]) -> bool:
    """Answer the event here (True), or leave it to the conversation engine (False)."""
    from trt_actors.conversation import admin  # the panel builds on this module

    match event:
        case Command(name=name, args=args) if name in ACCOUNT_COMMANDS:
            _account(d, name, args)
            return True
        case Command(name=name, args=args) if name in ADMIN_COMMANDS:
            if not d.is_admin:
                d.say(d.t("admin.only"))
            else:
                admin.command(d, name, args)
            return True
        case ButtonPressed(data=data) if data.startswith(ADMIN_PREFIX):
            if not d.is_admin:
                d.say(d.t("admin.only"))
            else:
                admin.press(d, data.removeprefix(ADMIN_PREFIX))
            return True
    message = update.get("message") or {}
    if d.is_admin and ("forward_origin" in message or "forward_from" in message):
        admin.forwarded(d, message)
        return True
    return False


def _account(d: Desk, name: str, args: str) -> None:
    match name:
        case "promo":
            if not args.strip():
                d.say(d.t("promo.usage"))
                return
            result = promo.redeem(d.tx, d.user_id, args.split()[0],
                                  misses_per_hour=d.policy.promo_misses_per_hour)
            if result.outcome is promo.Redeemed.OK:
                d.say(d.t("promo.ok", code=promo.normalise(args.split()[0]),
                          credits=d.credits(result.credits), balance=d.credits(result.balance)))
            else:
                d.say(d.t(f"promo.{result.outcome.value}"))
        case "terms":
            d.say(d.policy.terms_text or d.t("terms"))
        case "paysupport":
            question = args.strip()
            if not question:
                d.say(d.policy.paysupport_text or d.t("paysupport"))
                return
            name_part = f" (@{d.username})" if d.username else ""
            for admin_id in sorted(d.admin_ids):
                row = d.tx.one("user_get", user_id=admin_id)
                lang = texts.lang_for(row["language"] if row else None)
                outbox.add(d.tx, admin_id, "text", {"text": texts.t(
                    lang, "adm.support", user=d.user_id, name=name_part, text=question[:3000])},
                           dedup_key=f"desk:{d.update_id}:{admin_id}:support")
            d.say(d.t("paysupport.sent"))
