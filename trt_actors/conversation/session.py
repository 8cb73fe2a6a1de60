"""One event's worth of conversation: the working copy of the chat state and the replies.

The chat state is a JSON object (it lives in a jsonb column)::

    {"v": 1,
     "lang": null | "en" | "ru",     # set by /lang; null means "from Telegram's language_code"
     "menu": 7,                      # id of the newest screen with buttons
     "actions": [["kind", "music"], ...],   # what each button of that screen does
     "wizard": null | {"model": id, "values": {...}, "phase": "ask" | "options" | "edit"
                       | "confirm", "field": name | null, "mode": "required" | "optional"
                       | "edit", "order": null | {"inputs": {...}, "price": n}},
     "done": null | {"menu": 6, "job": 42, "model": id}}   # the last confirm, for double taps

A button's data is ``"<menu>:<index>"``: the index points into ``actions``, so the data stays
tiny whatever the model ids or enum values are, and a button from any older screen (a
different menu id) is recognised as expired.
"""

from __future__ import annotations

import copy
from typing import Any

from trt_actors.conversation import texts
from trt_actors.conversation.types import Answer, Button, ChatContext, Reply

STATE_VERSION = 1

Action = list[Any]
"""A button's meaning, e.g. ``["model", "z-image"]`` (JSON-serialisable)."""
Row = list[tuple[str, Action]]


def fresh_state() -> dict[str, Any]:
    """The state of a chat the bot has never talked to."""
    return {"v": STATE_VERSION, "lang": None, "menu": 0, "actions": [], "wizard": None,
            "done": None}


def load_state(state: dict[str, Any] | None) -> dict[str, Any]:
    """A private, normalised copy of ``state`` (the caller's dict is never touched).

    A state from an unknown version, or not a dict at all, starts over, but keeps the menu
    counter moving forward so no old button becomes valid again.
    """
    st = fresh_state()
    if isinstance(state, dict):
        if state.get("v") == STATE_VERSION:
            st.update(copy.deepcopy(state))
        if isinstance(state.get("menu"), int):
            st["menu"] = state["menu"]
    if st["lang"] not in texts.LANGS:
        st["lang"] = None
    if not isinstance(st["actions"], list):
        st["actions"] = []
    w = st["wizard"]
    if w is not None and not (isinstance(w, dict) and w.keys() >= _WIZARD_KEYS
                              and isinstance(w["values"], dict)):
        st["wizard"] = None  # unreadable: drop the order rather than fail every event
    elif w is not None:
        w.setdefault("order", None)
    return st


_WIZARD_KEYS = {"model", "values", "phase", "field", "mode"}


class Session:
    """The engine's working set for one event: state copy, language, collected replies."""

    def __init__(
        self, catalog: Any, state: dict[str, Any] | None, ctx: ChatContext,
        language_code: str | None,
    ) -> None:
        self.catalog = catalog
        self.ctx = ctx
        self.st = load_state(state)
        self.language_code = language_code
        self.replies: list[Answer] = []

    @property
    def lang(self) -> str:
        return self.st["lang"] or texts.lang_for(self.language_code)

    def t(self, key: str, **values: Any) -> str:
        return texts.t(self.lang, key, **values)

    def credits(self, n: int) -> str:
        return texts.credits(self.lang, n)

    # --- screens ---

    def say(self, text: str, *, replace: bool = False) -> None:
        """Send a message without buttons (the current menu stays valid)."""
        self.replies.append(Reply(text=text, replace=replace))

    def screen(self, text: str, rows: list[Row], *, replace: bool = False) -> None:
        """Send a screen with buttons; it becomes the current menu, older buttons expire."""
        self.invalidate()
        menu = self.st["menu"]
        actions: list[Action] = []
        keyboard: list[tuple[Button, ...]] = []
        for row in rows:
            buttons = []
            for label, action in row:
                buttons.append(Button(label=label, data=f"{menu}:{len(actions)}"))
                actions.append(action)
            if buttons:
                keyboard.append(tuple(buttons))
        self.st["actions"] = actions
        self.replies.append(Reply(text=text, buttons=tuple(keyboard), replace=replace))

    def invalidate(self) -> None:
        """Expire every button sent so far."""
        self.st["menu"] += 1
        self.st["actions"] = []

    def pressed(self, data: str) -> tuple[int, int] | None:
        """``(menu, index)`` from a button's data, or None if it is not ours."""
        menu, sep, index = data.partition(":")
        if not sep or not menu.isdigit() or not index.isdigit():
            return None
        return int(menu), int(index)

    def current_action(self, menu: int, index: int) -> Action | None:
        """The action of a button on the current menu, or None if the button has expired."""
        actions = self.st["actions"]
        if menu != self.st["menu"] or not 0 <= index < len(actions):
            return None
        action = actions[index]
        return action if isinstance(action, list) and action else None

    # --- wizard state ---

    @property
    def wizard(self) -> dict[str, Any] | None:
        w = self.st.get("wizard")
        return w if isinstance(w, dict) else None

    def model_of_wizard(self) -> Any | None:
        """The wizard's model, or None (and the wizard dropped) if the catalog lost it."""
        w = self.wizard
        if w is None:
            return None
        try:
            model = self.catalog.get(w.get("model"))
        except KeyError:
            self.st["wizard"] = None
            self.say(self.t("model_gone"))
            return None
        if not model.enabled:  # turned off by an admin since: nothing more is ordered
            self.st["wizard"] = None
            self.say(self.t("model_off", title=model.title.get(self.lang)))
            return None
        # The catalog may have changed since this state was saved: keep what still fits.
        names = {f.name for f in model.fields}
        w["values"] = {k: v for k, v in w["values"].items() if k in names}
        return model
