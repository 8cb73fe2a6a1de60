"""The conversation engine: one chat event in, the new chat state and the replies out.

Pure: no I/O, no database, no Telegram library. Everything with side effects goes through
the ``ChatContext`` the chat actor passes in (each call one short transaction), and the state
is a JSON object the actor stores after each event, so a restart resumes the conversation
where it was. The engine never mutates the state it is given.

Screens with buttons carry a menu id in every button's data; only the newest screen's
buttons work, older ones get "this menu has expired" — except a second press of the confirm
button just used, which answers with the same job (the idempotency key is derived from the
confirm screen's menu id, so a replayed update finds the same job too).
"""

from __future__ import annotations

import logging
from typing import Any

from trt_actors.catalog.model import Catalog, ModelSpec
from trt_actors.conversation import (
    commands,
    files,
    growth,
    models_menu,
    next_step,
    texts,
    wizard,
)
from trt_actors.conversation.gen import gen
from trt_actors.conversation.session import Session, fresh_state
from trt_actors.conversation.types import (
    STAR_PACKS,
    Answer,
    Button,
    ButtonPressed,
    ChatContext,
    Command,
    ConfirmResult,
    Event,
    FileFailed,
    FileReady,
    InvoiceReply,
    JobResult,
    JobSummary,
    MediaReply,
    MediaSent,
    PaymentReceived,
    Reply,
    StarPack,
    Text,
    pack_for_payload,
    validate_invoice_payload,
)

__all__ = [
    "STAR_PACKS",
    "Answer",
    "Button",
    "ButtonPressed",
    "ChatContext",
    "Command",
    "ConfirmResult",
    "Event",
    "InvoiceReply",
    "JobResult",
    "JobSummary",
    "MediaReply",
    "MediaSent",
    "PaymentReceived",
    "Reply",
    "StarPack",
    "Text",
    "fresh_state",
    "handle",
    "pack_for_payload",
    "validate_invoice_payload",
]

log = logging.getLogger(__name__)


def handle(
    catalog: Catalog, state: dict[str, Any] | None, event: Event, ctx: ChatContext, *,
    language_code: str | None,
) -> tuple[dict[str, Any], list[Answer]]:
    """Handle one event of one chat; return the new state and the replies to send, in order.

    ``state`` is the chat's stored state (``None`` or ``{}`` for a new chat); the result is a
    new JSON-serialisable dict. ``language_code`` is the user's Telegram language, used
    until they pick one with /lang. Context errors other than ``InsufficientCredits`` and
    ``FreeLimitReached`` (e.g. ``DatabaseUnavailable``) propagate: the actor retries the
    event later with the same state, and every context call is idempotent or read-only.
    """
    s = Session(catalog, state, ctx, language_code)
    match event:
        case Command(name=name, args=args):
            _command(s, name, args)
        case ButtonPressed(data=data):
            _button(s, data)
        case Text(text=text):
            _text(s, text)
        case MediaSent():
            _media(s, event)
        case FileReady():
            files.on_ready(s, event)
        case FileFailed():
            files.on_failed(s, event)
        case PaymentReceived():
            commands.payment(s, event)
        case _:
            log.warning("conversation: unexpected event %s", type(event).__name__)
    return s.st, s.replies


def _command(s: Session, name: str, args: str) -> None:
    name = name.lstrip("/").partition("@")[0].lower()
    match name:
        case "start":
            growth.start(s, args)
        case "help":
            s.say(s.t("help"))
        case "gen":
            gen(s, args)
        case "balance":
            commands.balance(s)
        case "history":
            growth.history(s)
        case "cancel" if growth.composing(s) is not None:
            growth.cancel(s)
        case "cancel":
            commands.cancel(s)
        case "invite":
            growth.invite(s)
        case "stop":
            growth.stop(s)
        case "broadcast":
            growth.broadcast(s)
        case "lang" | "language":
            commands.language_menu(s)
        case "topup":
            commands.topup_menu(s)
        case "grant":
            commands.grant(s, args)
        case "stats":
            commands.stats(s)
        case "models":
            models_menu.find(s, args)
        case "model":
            commands.model_switch(s, args)
        case "price":
            commands.price(s, args)
        case _:
            unknown = s.t("unknown_command", name=name[:32])
            if not wizard.show_current(s, prefix=unknown):
                s.say(unknown)


def _button(s: Session, data: str) -> None:
    if next_step.is_ours(data):  # under a result: never expires, names the job
        next_step.press(s, data)
        return
    pressed = s.pressed(data)
    action = s.current_action(*pressed) if pressed else None
    if action is None:
        done = s.st.get("done")
        if pressed and isinstance(done, dict) and done.get("menu") == pressed[0] \
                and pressed[1] == 0:
            # A double tap on the confirm button just used (its first button).
            wizard.accepted(s, done["job"], s.catalog.models.get(done.get("model")))
        else:
            s.say(texts.menu_expired(s.lang))
        return
    verb, rest = action[0], action[1:]
    match verb:
        case "main":
            commands.main_menu(s, replace=True)
        case _ if verb in models_menu.LISTS:
            models_menu.show(s, action)
        case "model":
            # [id, the list it was on]; states saved before lists had pages: [id, kind|None]
            back = rest[1] if isinstance(rest[1], list) else (
                ["kind", rest[1]] if rest[1] is not None else ["free"])
            model = _orderable(s, rest[0])
            if model is not None:
                commands.model_card(s, model, back_to=back)
        case "start":
            model = _orderable(s, rest[0])
            if model is not None:
                wizard.start(s, model, replace=True)
        case "lang":
            commands.language_menu(s, replace=True)
        case "setlang":
            commands.set_language(s, rest[0])
        case "topup":
            commands.topup_menu(s, replace=True)
        case "pack":
            commands.invoice(s, rest[0])
        case "help":
            s.say(s.t("help"))
        case next_step.PICK:
            next_step.pick(s, rest[0], rest[1])
        case "bcsend":
            growth.send(s, s.st["menu"])
        case "bccancel":
            growth.cancel(s)
        case _:
            _wizard_button(s, verb, rest, s.st["menu"])


def _orderable(s: Session, model_id: str) -> ModelSpec | None:
    """The model, or None (and a clear line) when it is gone or turned off."""
    try:
        model = s.catalog.get(model_id)
    except KeyError:
        s.say(s.t("model_gone"))
        return None
    if not model.enabled:
        s.say(s.t("model_off", title=model.title.get(s.lang)))
        return None
    if model.is_follow_up:  # offered only under a result it continues
        s.say(s.t("gen.follow_up", title=model.title.get(s.lang)))
        return None
    return model


def _wizard_button(s: Session, verb: str, rest: list[Any], menu: int) -> None:
    model = s.model_of_wizard()
    if model is None:
        s.say(texts.menu_expired(s.lang))
        return
    w = s.st["wizard"]
    match verb:
        case "set" | "unset" if w["phase"] == "ask":
            field = wizard.current_field(s, model)
            if field is not None:
                wizard.accept(s, model, field, rest[0] if verb == "set" else None,
                              replace=True)
        case "back" if w["phase"] == "ask":
            wizard.back(s, model)
        case "back" | "defaults":
            wizard.confirm_screen(s, model, replace=True)
        case "field" if rest[0] in {f.name for f in model.fields}:
            wizard.pick_field(s, model, rest[0])
        case "edit":
            wizard.edit_list(s, model, replace=True)
        case "filesdone" if w["phase"] == "ask":
            files.done(s, model)
        case "confirm":
            wizard.confirm(s, model, menu)
        case "cancel":
            s.st["wizard"] = None
            s.invalidate()
            s.say(s.t("cancel.wizard"), replace=True)
        case _:
            log.warning("conversation: unexpected button action %r", verb)
            s.say(texts.menu_expired(s.lang))


def _text(s: Session, text: str) -> None:
    if (b := growth.composing(s)) is not None and b.get("phase") == "compose":
        growth.compose_text(s, text)
        return
    w = s.wizard
    model = s.model_of_wizard()
    if w is None or model is None:
        if w is None:
            s.say(texts.unexpected_input(s.lang))
        return
    if w["phase"] == "ask":
        wizard.answer_text(s, model, text)
    else:
        wizard.show_current(s, prefix=s.t("buttons_please"))


def _media(s: Session, event: MediaSent) -> None:
    if (b := growth.composing(s)) is not None and b.get("phase") == "compose":
        growth.compose_media(s, event)
        return
    w = s.wizard
    model = s.model_of_wizard()
    if w is None or model is None:
        if w is None:
            s.say(texts.unexpected_input(s.lang))
        return
    if w["phase"] == "ask":
        try:
            field = model.field(w["field"])
        except KeyError:
            field = None
        if field is not None and files.takes_files(field):
            files.on_media(s, model, field, event)
            return
    wizard.show_current(s, prefix=s.t("unexpected"))
