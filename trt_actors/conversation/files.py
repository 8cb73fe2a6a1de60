"""Files users send as model inputs: the wizard's side.

A url field (single or list) takes a photo, an image/video/audio document, a video, an
audio or a voice note, and a list field an album or several messages up to its limit, with
"Done" to finish. The engine checks what it can (kind, Telegram's 20 MB), records the file as
*pending* in the wizard state and asks the chat actor (``ChatContext.transfer_file``) to
bring it to KIE off its thread; ``FileReady`` / ``FileFailed`` come back as events.

State (inside ``state["wizard"]``)::

    "pending": {transfer_id: {"field", "file_id", "mime", "name", "life"}},
    "files": {field: [{"url", "file_id", "uploaded_at", "mime", "name"}, ...]}

A restart loses nothing confirmed: the order (with its URLs and file ids) is in the job. A
pending transfer lost before the confirm (a kill mid-upload) is never answered: it belongs to
another ``life`` of the node, so it holds neither a slot nor Done (the user is told it did not
arrive), and in a single-file field a new file replaces it.
"""

from __future__ import annotations

from typing import Any

from trt_actors.catalog.model import FieldSpec, FieldType, ModelSpec
from trt_actors.conversation import wizard
from trt_actors.conversation.session import Session
from trt_actors.conversation.types import FileFailed, FileReady, MediaSent

TELEGRAM_LIMIT_MB = 20
TELEGRAM_LIMIT = TELEGRAM_LIMIT_MB * 1024 * 1024
DEFAULT_MAX_ITEMS = 10
"""A list field without ``max_items``: an album's most."""

_KIND_OF = {"photo": "image", "video": "video", "audio": "audio", "voice": "audio"}


def takes_files(field: FieldSpec) -> bool:
    return field.type in (FieldType.URL, FieldType.URL_LIST)


def media_kind(event: MediaSent) -> str | None:
    """``image``, ``video`` or ``audio`` for what was sent; None for anything else (a PDF)."""
    if event.kind in _KIND_OF:
        return _KIND_OF[event.kind]
    if event.kind == "document":
        head = (event.mime_type or "").partition("/")[0].lower()
        return head if head in ("image", "video", "audio") else None
    return None


def _wanted(field: FieldSpec) -> str:
    return field.media.value if field.media is not None else "any"


def max_items(field: FieldSpec) -> int:
    if field.type is FieldType.URL:
        return 1
    return field.max_items or DEFAULT_MAX_ITEMS


def limit_mb(field: FieldSpec) -> int:
    """The largest file this field takes: Telegram's limit, or the model's when lower."""
    return min(TELEGRAM_LIMIT_MB, field.max_mb or TELEGRAM_LIMIT_MB)


def hint(s: Session, field: FieldSpec) -> str:
    """The "send it here" line under a url field's question."""
    if field.type is FieldType.URL_LIST and max_items(field) > 1:
        return s.t("file.hint_list", max=max_items(field), limit=limit_mb(field))
    return s.t("file.hint", limit=limit_mb(field))


def _received(w: dict[str, Any], field: str) -> list[dict[str, Any]]:
    return list((w.get("files") or {}).get(field) or [])


def _pending_for(w: dict[str, Any], field: str) -> int:
    return sum(1 for p in (w.get("pending") or {}).values() if p.get("field") == field)


def _drop_lost(s: Session, w: dict[str, Any]) -> int:
    """Forget the transfers another run of the node started (they died with it); how many."""
    pending = w.get("pending") or {}
    lost = [k for k, p in pending.items() if p.get("life") != s.ctx.life]
    for transfer_id in lost:
        del pending[transfer_id]
    return len(lost)


def on_media(s: Session, model: ModelSpec, field: FieldSpec, event: MediaSent) -> None:
    """A file arrived while ``field`` (a url field) is being asked."""
    w = s.st["wizard"]
    kind, wanted = media_kind(event), _wanted(field)
    if event.file_id is None or kind is None or wanted not in ("any", kind):
        _again(s, model, field, s.t("file.wrong_kind", what=s.t(f"file.what.{wanted}")))
        return
    if event.size is not None and event.size > TELEGRAM_LIMIT:
        _again(s, model, field, s.t("file.too_big", limit=TELEGRAM_LIMIT_MB))
        return
    if event.size is not None and event.size > limit_mb(field) * 1024 * 1024:
        _again(s, model, field, s.t("file.model_too_big", limit=limit_mb(field)))
        return
    longest = field.max_duration_s
    if longest is not None and event.duration is not None and event.duration > longest:
        _again(s, model, field, s.t("file.too_long", limit=longest))
        return
    _drop_lost(s, w)
    if field.type is FieldType.URL:
        # The newest file wins: one still pending is replaced (its late answer is ignored),
        # so a transfer lost to a crash (never answered) cannot block the field.
        pending_now = w.get("pending") or {}
        for transfer_id in [k for k, p in pending_now.items() if p.get("field") == field.name]:
            del pending_now[transfer_id]
    have = (len(_received(w, field.name)) if field.type is FieldType.URL_LIST else 0) \
        + _pending_for(w, field.name)
    if have >= max_items(field):
        s.say(s.t("file.too_many", max=max_items(field)))
        return
    pending = w.setdefault("pending", {})
    transfer_id = (f"{s.ctx.chat_id}.{s.st['menu']}.{s.ctx.life[:6]}.{len(pending)}."
                   f"{event.file_unique_id or ''}")
    pending[transfer_id] = {"field": field.name, "file_id": event.file_id,
                            "mime": event.mime_type, "name": event.file_name,
                            "life": s.ctx.life}
    s.ctx.transfer_file(transfer_id, event.file_id, size=event.size,
                        mime_type=event.mime_type, name_hint=_name_hint(event))
    if have == 0:
        s.say(s.t("file.uploading"))


def records(w: dict[str, Any], inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of the files whose URLs are in the confirmed ``inputs``, for the job
    (``jobs.files``): field, index, url, file_id, uploaded_at, mime, name."""
    out = []
    for field, entries in (w.get("files") or {}).items():
        value = inputs.get(field)
        urls = value if isinstance(value, list) else [value]
        for entry in entries:
            if entry.get("url") in urls:
                out.append({"field": field, "index": urls.index(entry["url"]),
                            "url": entry["url"], "file_id": entry["file_id"],
                            "uploaded_at": entry.get("uploaded_at"),
                            "mime": entry.get("mime"), "name": entry.get("name")})
    return out


def _name_hint(event: MediaSent) -> str:
    if event.file_name:
        return event.file_name
    if event.kind == "photo":
        return "photo.jpg"
    sub = (event.mime_type or "").partition("/")[2]
    return f"{event.kind}.{sub}" if sub.isalnum() else event.kind


def on_ready(s: Session, event: FileReady) -> None:
    """A transfer ended well: the URL becomes (part of) the field's value."""
    w = s.wizard
    model = s.model_of_wizard()
    pending = (w.get("pending") or {}).pop(event.transfer_id, None) if w else None
    if w is None or model is None or pending is None:
        return  # the wizard was cancelled or finished meanwhile: nothing to do
    try:
        field = model.field(pending["field"])
    except KeyError:
        return
    entry = {"url": event.url, "file_id": pending["file_id"], "uploaded_at": event.uploaded_at,
             "mime": pending.get("mime"), "name": pending.get("name")}
    files = w.setdefault("files", {})
    if field.type is FieldType.URL:
        files[field.name] = [entry]
        w["values"][field.name] = event.url
    else:
        got = [*_received(w, field.name), entry][: max_items(field)]
        files[field.name] = got
        w["values"][field.name] = [f["url"] for f in got]
    asked = w["phase"] == "ask" and w.get("field") == field.name
    if not asked:
        return
    waiting = _pending_for(w, field.name)
    if field.type is FieldType.URL or (len(files[field.name]) >= max_items(field)
                                       and not waiting):
        wizard.accept(s, model, field, w["values"][field.name])
        return
    if waiting:
        return  # more of the album is on its way: one screen when the last one lands
    list_screen(s, model, field)


def list_screen(s: Session, model: ModelSpec, field: FieldSpec, *, prefix: str = "") -> None:
    """"2 of up to 4 images", with Done: the question again for more."""
    w = s.st["wizard"]
    n = len(_received(w, field.name))
    got = s.t("file.received", n=n, max=max_items(field),
              what=s.t(f"file.items.{_wanted(field)}"))
    wizard.ask(s, model, field, prefix=f"{prefix}\n\n{got}" if prefix else got,
               extra=[(s.t("btn.files_done"), ["filesdone"])])


def on_failed(s: Session, event: FileFailed) -> None:
    """A transfer failed: say so, and the same question again."""
    w = s.wizard
    model = s.model_of_wizard()
    pending = (w.get("pending") or {}).pop(event.transfer_id, None) if w else None
    if w is None or model is None or pending is None:
        return
    text = s.t("file.too_big", limit=TELEGRAM_LIMIT_MB) if event.reason == "too_big" \
        else s.t("file.failed")
    try:
        field = model.field(pending["field"])
    except KeyError:
        s.say(text)
        return
    if w["phase"] == "ask" and w.get("field") == field.name:
        _again(s, model, field, text)
    else:
        s.say(text)


def done(s: Session, model: ModelSpec) -> None:
    """The Done button (or "done" typed) of a list field: take what was received."""
    w = s.st["wizard"]
    field = wizard.current_field(s, model)
    if field is None:
        return
    if _drop_lost(s, w):
        s.say(s.t("file.lost"))
    if _pending_for(w, field.name):
        s.say(s.t("file.wait"))
        return
    value = w["values"].get(field.name)
    if not value:
        wizard.ask(s, model, field)
        return
    wizard.accept(s, model, field, value)


def _again(s: Session, model: ModelSpec, field: FieldSpec, prefix: str) -> None:
    w = s.st["wizard"]
    if field.type is FieldType.URL_LIST and _received(w, field.name):
        list_screen(s, model, field, prefix=prefix)
    else:
        wizard.ask(s, model, field, prefix=prefix)
