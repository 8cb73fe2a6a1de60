"""``/gen <model_id> field=value field="value with spaces" ...``: straight to the confirm screen.

Values go through exactly the checks the wizard uses (``parse_field`` per value, then
``validate_input`` on the whole), and every problem is listed at once.
"""

from __future__ import annotations

import shlex
from typing import Any

from trt_actors.catalog.validation import FieldRejected, InputRejected, parse_field, validate_input
from trt_actors.conversation import wizard
from trt_actors.conversation.commands import gen_command
from trt_actors.conversation.session import Session


def gen(s: Session, args: str) -> None:
    """Parse ``args``; on success the wizard sits on the confirm screen, else errors are listed."""
    try:
        tokens = shlex.split(args)
    except ValueError as exc:
        s.say(s.t("gen.bad_quotes", error=str(exc)))
        return
    if not tokens:
        _usage(s)
        return
    model_id, pairs = tokens[0], tokens[1:]
    try:
        model = s.catalog.get(model_id)
    except KeyError:
        s.say(s.t("gen.unknown_model", model=model_id))
        return
    if not model.enabled:
        s.say(s.t("model_off", title=model.title.get(s.lang)))
        return
    if model.is_follow_up:  # its source ids are the bot's, never typed
        s.say(s.t("gen.follow_up", title=model.title.get(s.lang)))
        return
    names = [f.name for f in model.fields]
    values: dict[str, Any] = {}
    errors: list[str] = []
    for token in pairs:
        name, sep, raw = token.partition("=")
        if not sep or not name:
            errors.append(f"• {s.t('gen.not_pair', token=token)}")
            continue
        if name not in names:
            known = ", ".join(names)
            errors.append("• " + s.t("gen.unknown_field", model=model.id, field=name,
                                     fields=known))
            continue
        if name in values:
            errors.append(f"• {s.t('gen.duplicate', field=name)}")
            continue
        field = model.field(name)
        try:
            values[name] = parse_field(field, raw)
        except FieldRejected as rejected:
            errors.append(f"• {wizard.name(s, field)} ({name}): "
                          f"{rejected.message.get(s.lang)}")
    if not errors:
        try:
            validate_input(model, values)
        except InputRejected as rejected:
            errors.append(wizard.describe_rejection(s, model, rejected))
    if errors:
        s.say(s.t("gen.errors", errors="\n".join(errors)))
        return
    s.st["wizard"] = {"model": model.id, "values": {k: wizard.jsonable(v)
                                                     for k, v in values.items()},
                      "phase": "confirm", "field": None, "mode": "edit", "order": None}
    wizard.confirm_screen(s, model)


def _usage(s: Session) -> None:
    models = list(s.catalog.models.values())
    example = gen_command(models[0], models[0].example) if models else "/gen <model_id>"
    s.say(s.t("gen.usage", example=example))
