"""Results feed the next step: the buttons under a delivered result, and what they do.

Under a result, one button per group of models that take it as input ("✏️ Edit",
"🎞 Animate", "🔍 Upscale", "✂️ Remove background"; derived from the catalog: a model whose
required url field asks for the result's kind of media), at most ``MAX_GROUPS``, and
"🔁 Again", which repeats the same order through a new confirm screen (a new price check and
hold when confirmed; never a silent charge).

Before them, one button per follow-up of the result's model (a catalog entry with
``follows``: "🎬 Extend", "📺 4K", "🎵 Extend"): its wizard starts with the fields KIE names
the source by (the source's KIE task id, a Suno track's id) taken from the job, so the user
answers only the rest (the extend prompt) and confirms as usual.

The buttons belong to no menu (a result stays in the chat for days), so their data names the
job, never a URL or a KIE id: ``next:<job id>:<group>``, ``follow:<job id>:<model id>`` and
``again:<job id>``. A press reads the job back
through the ``ChatContext``; a job of another user, not delivered, or gone with the retention
answers "no longer available" and changes nothing, as does a next step from a result older
than ``RESULT_LIVE_S`` (KIE no longer keeps it). The next model's url field is prefilled
with the job's KIE result URL (no re-upload), and the wizard asks what is still missing.
"""

from __future__ import annotations

from typing import Any

from trt_actors.catalog.follows import SourceValue
from trt_actors.catalog.model import Catalog, FieldSpec, FieldType, ModelSpec
from trt_actors.conversation import texts, wizard
from trt_actors.conversation.session import Row, Session
from trt_actors.conversation.types import JobResult

NEXT_PREFIX = "next:"
"""``next:<job id>:<group>``: offer the group's models for the job's result."""
FOLLOW_PREFIX = "follow:"
"""``follow:<job id>:<model id>``: that follow-up of the job's result (ids ≤ 32 characters:
the data stays within Telegram's 64 bytes)."""
AGAIN_PREFIX = "again:"
"""``again:<job id>``: the same order again, through a new confirm screen."""
RESULT_LIVE_S = 24 * 3600.0
"""How long a result's URL may be offered to the next model: KIE's docs say its result URLs
live 24 hours (elsewhere 14 days); the shorter. "Again" needs only the inputs: no limit."""
MAX_GROUPS = 4
"""Group buttons under one result (the catalog may allow more kinds of next step)."""
PICK = "nextpick"
"""The picker screen's action verb: ``["nextpick", job id, model id]``."""

GROUP_OF_KIND: dict[str, str] = {
    # What a model does -> the button it is offered under (kinds not listed: their own).
    "image-edit": "edit", "image-to-image": "edit", "reframe": "edit",
    "image-to-video": "animate",
    "upscale": "upscale",
    "background-removal": "nobg",
}
_GROUP_ORDER = ("edit", "animate", "upscale", "nobg")


def media_field(model: ModelSpec, kind: str) -> FieldSpec | None:
    """The required url field of ``model`` that takes a ``kind`` result (image, video...)."""
    return next((f for f in model.required_fields
                 if f.type in (FieldType.URL, FieldType.URL_LIST) and f.media is not None
                 and f.media.value == kind), None)


def groups(catalog: Catalog, kind: str) -> dict[str, list[ModelSpec]]:
    """The models that take a ``kind`` result, by group, in button order (at most
    ``MAX_GROUPS``; the catalog's order within a group)."""
    found: dict[str, list[ModelSpec]] = {}
    for model in catalog.models.values():
        if model.enabled and not model.is_follow_up and media_field(model, kind) is not None:
            found.setdefault(GROUP_OF_KIND.get(model.kind, model.kind), []).append(model)

    def rank(group: str) -> int:
        return _GROUP_ORDER.index(group) if group in _GROUP_ORDER else len(_GROUP_ORDER)

    order = sorted(found, key=rank)[:MAX_GROUPS]
    return {g: found[g] for g in order}


def group_label(lang: str, group: str) -> str:
    key = f"next.{group}"
    return texts.t(lang, key) if texts.has_text(key) else texts.kind_label(lang, group)


def result_buttons(catalog: Catalog, lang: str, job_id: int,
                   model_id: str) -> list[list[dict[str, str]]]:
    """The keyboard under a result (outbox payload form): the follow-ups, then the groups, two
    a row, then Again."""
    model = catalog.models.get(model_id)
    if model is None:
        return []
    buttons = [{"label": m.follows.button.get(lang), "data": f"{FOLLOW_PREFIX}{job_id}:{m.id}"}
               for m in catalog.follow_ups(model_id) if m.follows is not None]
    buttons += [{"label": group_label(lang, g), "data": f"{NEXT_PREFIX}{job_id}:{g}"}
                for g in groups(catalog, model.result_kind.value)]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([{"label": texts.t(lang, "next.again"), "data": f"{AGAIN_PREFIX}{job_id}"}])
    return rows


def is_ours(data: str) -> bool:
    return data.startswith((NEXT_PREFIX, FOLLOW_PREFIX, AGAIN_PREFIX))


def press(s: Session, data: str) -> None:
    """A "next step" or "Again" button under a result."""
    head, _, rest = data.partition(":")
    job_id, _, group = rest.partition(":")
    job = s.ctx.job_result(int(job_id)) if job_id.isdigit() else None
    source = s.catalog.models.get(job.model_id) if job is not None else None
    if job is None or source is None:
        s.say(s.t("next.gone"))
        return
    if head + ":" == AGAIN_PREFIX:
        if source.enabled:
            _again(s, job, source)
        else:
            s.say(s.t("model_off", title=source.title.get(s.lang)))
        return
    if job.age_s > RESULT_LIVE_S:
        s.say(s.t("next.gone"))
        return
    if head + ":" == FOLLOW_PREFIX:
        _follow(s, job, group)
        return
    models = groups(s.catalog, source.result_kind.value).get(group, [])
    if not models:
        s.say(s.t("next.none"))
    elif len(models) == 1:
        _prefill(s, job, models[0], source.result_kind.value)
    else:
        rows: list[Row] = [[(m.title.get(s.lang), [PICK, job.job_id, m.id])] for m in models]
        rows.append([(s.t("btn.back"), ["main"])])
        s.screen(s.t("next.pick", job=job.job_id), rows)


def pick(s: Session, job_id: Any, model_id: Any) -> None:
    """A model on the picker screen."""
    job = s.ctx.job_result(int(job_id)) if isinstance(job_id, int) else None
    source = s.catalog.models.get(job.model_id) if job is not None else None
    model = s.catalog.models.get(str(model_id))
    if job is None or source is None or job.age_s > RESULT_LIVE_S:
        s.say(s.t("next.gone"))
    elif model is None or not model.enabled \
            or media_field(model, source.result_kind.value) is None:
        s.say(s.t("model_gone"))
    else:  # the picker is a text message of its own: its question takes its place
        _prefill(s, job, model, source.result_kind.value, replace=True)


def _new_wizard(model: ModelSpec, values: dict[str, Any]) -> dict[str, Any]:
    return {"model": model.id, "values": values, "phase": "ask", "field": None,
            "mode": "required", "order": None}


def _prefill(s: Session, job: JobResult, model: ModelSpec, kind: str, *,
             replace: bool = False) -> None:
    """Start ``model``'s wizard with the result in its url field; ask what is missing (in
    place of the pressed message with ``replace``; never under a result: a photo's caption
    is not the place for a question)."""
    field = media_field(model, kind)
    assert field is not None
    urls = list(job.result_urls)
    value: Any = urls[0] if field.type is FieldType.URL else urls[: field.max_items or len(urls)]
    s.st["wizard"] = _new_wizard(model, {field.name: value})
    wizard.advance(s, model, replace=replace, prefix=s.t("next.prefilled", job=job.job_id))


def _follow(s: Session, job: JobResult, model_id: str) -> None:
    """Start the follow-up's wizard with its source fields taken from ``job``."""
    model = s.catalog.models.get(model_id)
    if model is None or model.follows is None or job.model_id not in model.follows.models:
        s.say(s.t("model_gone"))
        return
    if not model.enabled:
        s.say(s.t("model_off", title=model.title.get(s.lang)))
        return
    values = {name: _source_value(job, what) for name, what in model.follows.fields.items()}
    if any(value is None for value in values.values()):
        s.say(s.t("next.none"))  # KIE did not name what the follow-up needs
        return
    s.st["wizard"] = _new_wizard(model, values)
    wizard.advance(s, model, prefix=s.t("next.follows", job=job.job_id))


def _source_value(job: JobResult, what: SourceValue) -> str | None:
    if what is SourceValue.TASK_ID:
        return job.task_id
    return job.result_ids[0] if job.result_ids else None


def _again(s: Session, job: JobResult, model: ModelSpec) -> None:
    """The same model and inputs, on a new confirm screen (today's price, a new hold)."""
    s.st["wizard"] = _new_wizard(model, {k: wizard.jsonable(v) for k, v in job.inputs.items()})
    wizard.confirm_screen(s, model)
