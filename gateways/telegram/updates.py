"""Storing a getUpdates batch: the update inbox, one transaction, before the offset moves.

Used by the intake leader (``intake``): each update is stored with its chat (``chat_of``),
cleaned for jsonb (``clean_json``); a chat another worker owns gets that worker woken when
the batch commits (``NOTIFY trt_wake``, see ``gateways.wakeups``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from trt_actors import DatabaseUnavailable, Store, StoreError, Tx

log = logging.getLogger("trt.intake")


def clean_json(value: Any) -> Any:
    """The update as PostgreSQL's jsonb accepts it: no NUL characters, no lone surrogates
    (both are legal in Telegram's JSON and refused by jsonb); each becomes U+FFFD."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return value
    if isinstance(value, dict):
        return {clean_json(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def chat_of(update: dict[str, Any]) -> int | None:
    for key in ("message", "edited_message", "callback_query", "pre_checkout_query"):
        part = update.get(key)
        if not isinstance(part, dict):
            continue
        if key == "callback_query":
            part = part.get("message") or {"chat": part.get("from")}
        if key == "pre_checkout_query":
            return int(part["from"]["id"]) if isinstance(part.get("from"), dict) else None
        chat = part.get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
    return None


def store_updates(store: Store, bot_id: int, updates: list[dict[str, Any]],
                  owns: Callable[[int], bool]) -> list[dict[str, Any]]:
    """Store a batch in one transaction; the new rows (``update_id``, ``chat_id``). One
    update the database refuses does not block the others."""
    batch = [{"update_id": u["update_id"], "chat_id": chat_of(u), "payload": u}
             for u in updates]
    try:
        with store.transaction() as tx:
            tx.run("updates_lock", bot_id=bot_id)
            rows = tx.all("updates_store", bot_id=bot_id, updates=json.dumps(batch))
            _wake_owners(tx, rows, owns)
        return rows
    except DatabaseUnavailable:
        raise
    except StoreError as exc:
        # One update the database refuses must not block the others: store them one by
        # one, keeping a bare record of any that still fails (handled, so never replayed).
        log.warning("update batch refused (%s); storing one by one", exc)
    rows = []
    with store.transaction() as tx:
        tx.run("updates_lock", bot_id=bot_id)
        for item in batch:
            try:
                with tx.savepoint():
                    rows.extend(tx.all("updates_store", bot_id=bot_id,
                                       updates=json.dumps([item])))
            except DatabaseUnavailable:
                raise
            except StoreError as exc:
                log.warning("update %s refused by the database: %s", item["update_id"], exc)
                bare = {"update_id": item["update_id"], "chat_id": None,
                        "payload": {"update_id": item["update_id"], "refused": True}}
                for row in tx.all("updates_store", bot_id=bot_id,
                                  updates=json.dumps([bare])):
                    tx.run("update_handled", update_id=row["update_id"])
        _wake_owners(tx, rows, owns)
    return rows


def _wake_owners(tx: Tx, rows: list[dict[str, Any]], owns: Callable[[int], bool]) -> None:
    """Updates of chats another worker owns: it is woken when this commits."""
    foreign = [f"u:{r['chat_id']}:{r['update_id']}" for r in rows
               if r["chat_id"] is not None and not owns(int(r["chat_id"]))]
    if foreign:
        tx.one("wake", payloads=foreign)
