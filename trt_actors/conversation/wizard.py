"""The input wizard: required fields one at a time, then optional ones, then the confirm screen.

Each function takes the ``Session`` and appends its replies; the wizard's place lives in
``state["wizard"]`` (see ``conversation_session``), so a restart resumes the same question.
A rejected value never loses anything: the message says what is allowed and the same
question is asked again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from trt_actors.catalog.model import FieldSpec, FieldType, ModelSpec
from trt_actors.catalog.validation import (
    FieldRejected,
    InputRejected,
    parse_field,
    rule_for,
    validate_input,
)
from trt_actors.conversation import texts
from trt_actors.conversation.session import Row, Session
from trt_actors.errors import FreeLimitReached, InsufficientCredits, UserLimitReached

_SHOWN_VALUE_CHARS = 300
_ENUM_BUTTONS_PER_ROW = 3


def start(s: Session, model: ModelSpec, *, replace: bool = False) -> None:
    """Begin the wizard for ``model`` (dropping any other) and ask its first question."""
    s.st["wizard"] = {"model": model.id, "values": {}, "phase": "ask", "field": None,
                      "mode": "required", "order": None}
    advance(s, model, replace=replace)


def advance(s: Session, model: ModelSpec, *, replace: bool = False, prefix: str = "") -> None:
    """Ask the next missing required field, else move on to optional fields or confirm."""
    w = s.st["wizard"]
    missing = [f for f in model.required_fields if f.name not in w["values"]]
    if missing:
        w.update(phase="ask", field=missing[0].name, mode="required")
        ask(s, model, missing[0], replace=replace, prefix=prefix)
    elif model.optional_fields and w["phase"] == "ask" and w["mode"] == "required":
        options(s, model, replace=replace, prefix=prefix)
    else:
        confirm_screen(s, model, replace=replace, prefix=prefix)


def show_current(s: Session, *, prefix: str = "", replace: bool = False) -> bool:
    """Show the wizard's current screen again; False when there is no wizard."""
    model = s.model_of_wizard()
    if model is None:
        return False
    w = s.st["wizard"]
    if w["phase"] == "ask":
        try:
            field = model.field(w["field"])
        except KeyError:
            w.update(phase="ask", mode="required")
            advance(s, model, replace=replace, prefix=prefix)
            return True
        ask(s, model, field, replace=replace, prefix=prefix)
    elif w["phase"] == "options":
        options(s, model, replace=replace, prefix=prefix)
    elif w["phase"] == "edit":
        edit_list(s, model, replace=replace, prefix=prefix)
    else:
        confirm_screen(s, model, replace=replace, prefix=prefix)
    return True


# --- one question ----------------------------------------------------------------------------


def label(s: Session, field: FieldSpec) -> str:
    """The field's question, as the catalog words it."""
    return field.label.get(s.lang)


def name(s: Session, field: FieldSpec) -> str:
    """The field's short name for summaries and buttons (its question if none is known)."""
    return texts.field_name(s.lang, field.name) or label(s, field)


def show_value(s: Session, field: FieldSpec | None, value: Any) -> str:
    """A value as the user reads it (yes/no, lists joined, long text shortened)."""
    if isinstance(value, bool):
        return s.t("value.yes" if value else "value.no")
    if isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    elif value is None:
        text = "—"
    else:
        text = str(value)
    if len(text) > _SHOWN_VALUE_CHARS:
        text = text[: _SHOWN_VALUE_CHARS - 1] + "…"
    return text


def hint(s: Session, field: FieldSpec) -> str:
    """What to send for ``field``, with its limits stated (the validator's own rule)."""
    if field.type is FieldType.ENUM:
        return s.t("hint.enum")
    if field.type is FieldType.BOOLEAN:
        return s.t("hint.boolean")
    rule = rule_for(field).get(s.lang) + "."
    if field.type in (FieldType.URL, FieldType.URL_LIST):
        from trt_actors.conversation import files  # it builds on this module

        rule += "\n" + files.hint(s, field)
    return rule


def ask(
    s: Session, model: ModelSpec, field: FieldSpec, *, replace: bool = False, prefix: str = "",
    extra: Row | None = None,
) -> None:
    """Ask ``field``: a header (step n/m, optional or edit), what to send, the buttons
    (``extra`` a row of its own above Back/Cancel, e.g. Done for files)."""
    w = s.st["wizard"]
    w.update(phase="ask", field=field.name)
    mode = w["mode"]
    if mode == "required":
        required = model.required_fields
        step = [f.name for f in required].index(field.name) + 1
        header = s.t("ask.step", i=step, n=len(required), label=label(s, field))
    elif mode == "optional":
        header = s.t("ask.optional", label=label(s, field))
    else:
        header = s.t("ask.edit", label=label(s, field))
    lines = [header, hint(s, field)]
    values = w["values"]
    if mode != "required" and field.name in values:
        lines.append(s.t("ask.current", value=show_value(s, field, values[field.name])))
    if not field.required and field.has_default:
        lines.append(s.t("ask.default", value=show_value(s, field, field.default)))
    rows: list[Row] = []
    if field.type is FieldType.ENUM:
        choices = list(field.enum or ())
        for i in range(0, len(choices), _ENUM_BUTTONS_PER_ROW):
            rows.append([(c, ["set", c]) for c in choices[i : i + _ENUM_BUTTONS_PER_ROW]])
    elif field.type is FieldType.BOOLEAN:
        rows.append([(s.t("btn.yes"), ["set", True]), (s.t("btn.no"), ["set", False])])
    if extra:
        rows.append(extra)
    tail: Row = []
    if mode != "required":
        if not field.required:
            tail.append((s.t("btn.default"), ["unset"]))
        tail.append((s.t("btn.back"), ["back"]))
    tail.append((s.t("btn.cancel"), ["cancel"]))
    rows.append(tail)
    text = "\n".join(lines)
    s.screen(f"{prefix}\n\n{text}" if prefix else text, rows, replace=replace)


def current_field(s: Session, model: ModelSpec) -> FieldSpec | None:
    """The field being asked; None (after moving on) if the catalog no longer has it."""
    try:
        return model.field(s.st["wizard"]["field"])
    except KeyError:
        s.st["wizard"].update(phase="ask", mode="required")
        advance(s, model)
        return None


def answer_text(s: Session, model: ModelSpec, text: str) -> None:
    """The user typed an answer to the current question."""
    field = current_field(s, model)
    if field is None:
        return
    if field.type in (FieldType.URL, FieldType.URL_LIST):
        from trt_actors.conversation import files

        if text.strip().casefold() in ("done", "готово") and s.st["wizard"].get("files"):
            files.done(s, model)
            return
    try:
        value = parse_field(field, text)
    except FieldRejected as rejected:
        prefix = s.t("rejected", message=rejected.message.get(s.lang))
        ask(s, model, field, prefix=prefix)
        return
    (s.st["wizard"].get("files") or {}).pop(field.name, None)  # links replace sent files
    accept(s, model, field, value)


def accept(
    s: Session, model: ModelSpec, field: FieldSpec, value: Any, *, replace: bool = False,
) -> None:
    """Store an accepted value (None: back to the default) and go to the next screen."""
    w = s.st["wizard"]
    if value is None:
        w["values"].pop(field.name, None)
    else:
        w["values"][field.name] = jsonable(value)
    if w["mode"] == "required":
        advance(s, model, replace=replace)
    elif w["mode"] == "optional":
        options(s, model, replace=replace)
    else:
        confirm_screen(s, model, replace=replace)


def back(s: Session, model: ModelSpec) -> None:
    """The Back button of an optional or edit question."""
    if s.st["wizard"]["mode"] == "optional":
        options(s, model, replace=True)
    else:
        confirm_screen(s, model, replace=True)


def jsonable(value: Any) -> Any:
    """A value as stored in the JSON state (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


# --- optional fields and editing ------------------------------------------------------------


def options(s: Session, model: ModelSpec, *, replace: bool = False, prefix: str = "") -> None:
    """Optional fields: keep the defaults, or pick one to change."""
    w = s.st["wizard"]
    w.update(phase="options", field=None, mode="optional")
    values = w["values"]
    lines = [s.t("options.title", title=model.title.get(s.lang))]
    changed = False
    for f in model.optional_fields:
        if f.name in values:
            changed = True
            shown = show_value(s, f, values[f.name])
        elif f.has_default:
            shown = s.t("value.default_is", value=show_value(s, f, f.default))
        else:
            shown = s.t("value.default")
        lines.append(f"• {name(s, f)}: {shown}")
    lines.append("")
    lines.append(s.t("options.footer"))
    rows: list[Row] = [[(s.t("btn.continue" if changed else "btn.use_defaults"), ["defaults"])]]
    rows += _field_rows(s, model.optional_fields)
    rows.append([(s.t("btn.cancel"), ["cancel"])])
    text = "\n".join(lines)
    s.screen(f"{prefix}\n\n{text}" if prefix else text, rows, replace=replace)


def edit_list(s: Session, model: ModelSpec, *, replace: bool = False, prefix: str = "") -> None:
    """From the confirm screen: which field to change."""
    w = s.st["wizard"]
    w.update(phase="edit", field=None, mode="edit")
    rows = _field_rows(s, tuple(f for f in model.fields if f.name not in model.prefilled_fields))
    rows.append([(s.t("btn.back"), ["back"]), (s.t("btn.cancel"), ["cancel"])])
    text = s.t("edit.title")
    s.screen(f"{prefix}\n\n{text}" if prefix else text, rows, replace=replace)


def _field_rows(s: Session, fields: tuple[FieldSpec, ...]) -> list[Row]:
    buttons = [(s.t("btn.field", label=name(s, f)), ["field", f.name]) for f in fields]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def pick_field(s: Session, model: ModelSpec, name: str) -> None:
    """A field button on the options or edit screen: ask that field."""
    w = s.st["wizard"]
    if name in model.prefilled_fields:  # taken from the source job: not the user's to change
        show_current(s, replace=True)
        return
    w["mode"] = "optional" if w["phase"] == "options" else "edit"
    ask(s, model, model.field(name), replace=True)


# --- confirm ---------------------------------------------------------------------------------


def describe_rejection(s: Session, model: ModelSpec, rejected: InputRejected) -> str:
    """One line per rejected field: "• Label: what is allowed"."""
    lines = []
    for err in rejected.errors:
        try:
            shown = name(s, model.field(err.field))
        except KeyError:
            shown = err.field
        lines.append(f"• {shown}: {err.message.get(s.lang)}")
    return "\n".join(lines)


def confirm_screen(
    s: Session, model: ModelSpec, *, replace: bool = False, prefix: str = "",
) -> None:
    """The order: inputs, price, balance after. The FIRST button confirms."""
    w = s.st["wizard"]
    try:
        inputs = validate_input(model, w["values"])
    except InputRejected as rejected:
        errors = s.t("confirm.invalid", errors=describe_rejection(s, model, rejected))
        edit_list(s, model, replace=replace, prefix=f"{prefix}\n\n{errors}" if prefix else errors)
        return
    inputs = {k: jsonable(v) for k, v in inputs.items()}
    price = model.price_for(inputs)
    w.update(phase="confirm", field=None, mode="edit", order={"inputs": inputs, "price": price})
    balance = s.ctx.balance()
    shown_price = s.t("price.free") if model.free else s.credits(price)
    lines = [s.t("confirm.title"), s.t("confirm.model", title=model.title.get(s.lang))]
    for f in model.fields:
        if f.name in inputs and f.name not in model.prefilled_fields:
            lines.append(f"• {name(s, f)}: {show_value(s, f, inputs[f.name])}")
    lines.append(s.t("confirm.price", price=shown_price))
    lines.append(s.t("confirm.balance", balance=s.credits(balance),
                     after=s.credits(balance - price)))
    rows: list[Row] = [
        [(s.t("btn.confirm", price=shown_price), ["confirm"])],
        [(s.t("btn.edit"), ["edit"]), (s.t("btn.cancel"), ["cancel"])],
    ]
    text = "\n".join(lines)
    s.screen(f"{prefix}\n\n{text}" if prefix else text, rows, replace=replace)


def idempotency_key(chat_id: int, menu: int, model_id: str, inputs: dict[str, Any]) -> str:
    """One key per confirm screen: the chat, the screen's menu id, and what it orders.

    A second press of the same button, or the same update replayed after a crash, carries
    the same menu id and order, hence the same key, so the store returns the same job.
    """
    digest = hashlib.sha256(
        json.dumps([model_id, inputs], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()[:16]
    return f"confirm:{chat_id}:{menu}:{digest}"


def confirm(s: Session, model: ModelSpec, menu: int) -> None:
    """The confirm button: create the job (once) and say it was accepted."""
    w = s.st["wizard"]
    order = w.get("order")
    if not order:  # a confirm state written by hand or by an older engine: recompute
        confirm_screen(s, model)
        return
    key = idempotency_key(s.ctx.chat_id, menu, model.id, order["inputs"])
    try:
        from trt_actors.conversation import files  # it builds on this module

        result = s.ctx.confirm_job(model.id, dict(order["inputs"]), order["price"], key,
                                   files=files.records(w, order["inputs"]))
    except InsufficientCredits:
        # The confirm screen stays current: after /topup the user can press it again.
        s.say(texts.insufficient_credits(s.lang, order["price"], s.ctx.balance()))
        return
    except FreeLimitReached as limit:
        s.say(texts.free_limit_reached(s.lang, limit.limit))
        return
    except UserLimitReached as limit:  # the confirm screen stays current: press it later
        s.say(s.t(f"limit.{limit.what}", limit=limit.limit))
        return
    s.st["wizard"] = None
    s.invalidate()
    s.st["done"] = {"menu": menu, "job": result.job_id, "model": model.id}
    accepted(s, result.job_id, model)


def accepted(s: Session, job_id: int, model: ModelSpec | None) -> None:
    title = model.title.get(s.lang) if model else "?"
    s.say(s.t("accepted", job=job_id, title=title), replace=True)
