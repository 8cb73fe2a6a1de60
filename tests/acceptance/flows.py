"""A person in the Telegram emulator: types, presses buttons by their label, reads the chat.

Every message the bot sent, and every edit of it, is a ``View`` (version 0 = as sent, n =
after the n-th edit). An action returns a ``Mark`` (the views seen before it), so a test can
wait for what the bot said *after* that action, whatever else was on the screen before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from sandbox.telegram_emulator import TelegramEmulator

Mark = frozenset[tuple[int, int]]
"""The (message id, version) pairs a person had seen at some moment."""


@dataclass(frozen=True, slots=True)
class View:
    """One version of one bot message, as the person saw it."""

    message_id: int
    version: int
    """0 as sent; n after the n-th edit."""
    at: float
    """When Telegram accepted this version (Unix s)."""
    text: str
    """Text or caption ("" for none)."""
    buttons: tuple[tuple[str, str], ...]
    """(label, callback_data) of the inline keyboard, row by row."""
    media: dict[str, Any] | None
    invoice: dict[str, Any] | None

    def button(self, label: str) -> str | None:
        """The callback_data of the first button whose label contains ``label``."""
        return next((data for text, data in self.buttons if label in text), None)


def _buttons(markup: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    rows = (markup or {}).get("inline_keyboard") or []
    return tuple((str(b.get("text")), str(b.get("callback_data"))) for row in rows for b in row)


def views_of(message: dict[str, Any]) -> list[View]:
    """Every version of one emulator message record."""
    edits = message.get("edits") or []
    first_text = edits[0]["previous_text"] if edits else message.get("text")
    first_markup = edits[0]["previous_reply_markup"] if edits else message.get("reply_markup")
    out = [View(message["message_id"], 0, message["sent_at"], first_text or "",
                _buttons(first_markup), message.get("media"), message.get("invoice"))]
    text = first_text or ""
    for n, edit in enumerate(edits, start=1):
        text = edit["text"] if edit.get("text") is not None else text
        out.append(View(message["message_id"], n, edit["at"], text,
                        _buttons(edit.get("reply_markup")), None, None))
    return out


class Person:
    """One Telegram user talking to the bot (their private chat's id is their user id)."""

    def __init__(self, telegram: TelegramEmulator, user_id: int, *,
                 language_code: str = "en", timeout: float = 20.0) -> None:
        self.telegram, self.user_id = telegram, user_id
        self.language_code, self.timeout = language_code, timeout

    # --- reading ------------------------------------------------------------------------------

    def messages(self) -> list[dict[str, Any]]:
        return list(self.telegram.messages(self.user_id))

    def views(self) -> list[View]:
        """Every version of every bot message, oldest first."""
        views = [v for m in self.messages() for v in views_of(m)]
        return sorted(views, key=lambda v: (v.at, v.message_id, v.version))

    def mark(self) -> Mark:
        return frozenset((v.message_id, v.version) for v in self.views())

    def since(self, mark: Mark) -> list[View]:
        return [v for v in self.views() if (v.message_id, v.version) not in mark]

    def current(self, message_id: int) -> View:
        """The message as it is on the screen now (its newest version)."""
        message = next(m for m in self.messages() if m["message_id"] == message_id)
        return views_of(message)[-1]

    def media(self) -> list[dict[str, Any]]:
        return [m for m in self.messages() if m.get("media")]

    def texts(self, needle: str) -> list[View]:
        """Newest versions of the messages whose text contains ``needle`` (as shown now)."""
        shown = [views_of(m)[-1] for m in self.messages()]
        return [v for v in shown if needle in v.text]

    def expect(self, needle: str | Callable[[View], bool], since: Mark, *,
               timeout: float | None = None) -> View:
        """Wait until the bot shows (sends or edits to) a text matching ``needle`` after
        ``since``; return that view."""
        matches: Callable[[View], bool] = (
            needle if callable(needle) else lambda v: needle in v.text)
        found: list[View] = []

        def shown() -> bool:  # runs on the emulator's loop: woken by every change there
            found[:] = [v for v in self.since(since) if matches(v)][:1]
            return bool(found)

        try:
            self.telegram.wait_until(shown, timeout or self.timeout)
        except TimeoutError:
            seen = [v.text[:80] for v in self.since(since)]
            raise AssertionError(f"user {self.user_id}: timed out waiting for the bot to show "
                                 f"{needle!r}; it showed {seen}") from None
        return found[0]

    def screen(self) -> View:
        """The newest message that shows buttons now (the menu the person would use)."""
        for message in reversed(self.messages()):
            view = views_of(message)[-1]
            if view.buttons:
                return view
        raise AssertionError(f"user {self.user_id}: no message with buttons")

    # --- acting -------------------------------------------------------------------------------

    def send(self, text: str) -> Mark:
        """Type ``text``; return what was on the screen before."""
        mark = self.mark()
        self.telegram.send_text(self.user_id, text, language_code=self.language_code)
        return mark

    def press(self, label: str, *, on: View | None = None) -> tuple[Mark, str]:
        """Press the button whose label contains ``label`` on ``on`` (default: the current
        screen); returns (what was on the screen before, the callback query id)."""
        view = self.current(on.message_id) if on is not None else self.screen()
        data = view.button(label)
        if data is None:
            raise AssertionError(f"user {self.user_id}: no button {label!r} on "
                                 f"{view.text[:120]!r}; buttons: {[b for b, _ in view.buttons]}")
        mark = self.mark()
        query_id = self.telegram.press_button(self.user_id, view.message_id, data)
        return mark, query_id

    def step(self, label: str, expect: str, *, timeout: float | None = None) -> View:
        """Press ``label`` and wait for the screen that says ``expect``."""
        mark, _ = self.press(label)
        return self.expect(expect, mark, timeout=timeout)

    def say(self, text: str, expect: str, *, timeout: float | None = None) -> View:
        """Type ``text`` and wait for the reply that says ``expect``."""
        return self.expect(expect, self.send(text), timeout=timeout)


def query(database: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of one read-only query on the node's database."""
    with psycopg.connect(database, row_factory=dict_row, autocommit=True) as conn:
        return conn.execute(sql.encode(), params).fetchall()


def balance(database: str, user_id: int) -> tuple[int, int]:
    """(available, held) of a user, from the database."""
    rows = query(database, "SELECT available, held FROM users WHERE id = %s", user_id)
    assert rows, f"user {user_id} has no row"
    return int(rows[0]["available"]), int(rows[0]["held"])


def jobs_of(database: str, user_id: int) -> list[dict[str, Any]]:
    return query(database, "SELECT id, model_id, price, state::text AS state, failure::text "
                           "AS failure, input FROM jobs WHERE user_id = %s ORDER BY id", user_id)


def all_ended(database: str, user_ids: Iterable[int]) -> bool:
    ids = list(user_ids)
    return not query(database, "SELECT 1 FROM jobs WHERE user_id = ANY(%s) AND state::text "
                               "NOT IN ('delivered', 'failed')", ids)
