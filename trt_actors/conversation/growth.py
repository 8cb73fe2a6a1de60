"""Growth commands: ``/invite`` (referrals), ``/stop`` and ``/start`` (broadcast opt-out and
back in), ``/broadcast`` (admins: compose, preview, confirm), and ``/history`` re-sending the
latest results by Telegram ``file_id`` with "🔁 Again" under each.

The database side is the context's ``growth`` (``GrowthOps``, the chat actor's
``actors.chat_context.DbGrowth``); a context without it (the unit tests' fake) gets the plain
behaviour: /history as text only, and these commands answer that they are unavailable.

A broadcast being composed lives in the session (``st["broadcast"]``): ``{"phase":
"compose"}`` until the admin sends a text or a photo, then ``{"phase": "confirm", "draft":
{...}}`` with a confirm screen; its Send button starts it once (the dedup key is the confirm
screen's menu id, so a double tap or a replayed update starts nothing new).
"""

from __future__ import annotations

from typing import Any, Protocol

from trt_actors.conversation import commands, next_step, texts
from trt_actors.conversation.session import Row, Session
from trt_actors.conversation.types import MediaReply, MediaSent
from trt_actors.domain.history import StoredResult

RESENT_LIMIT = 5
"""/history re-sends at most this many results (the newest); the text list shows more."""
_MAX_CAPTION = 1000  # Telegram allows 1024 characters in a caption


class GrowthOps(Protocol):
    """What these commands ask of the database (one update's transaction)."""

    def invite(self) -> tuple[str | None, int, int, int]:
        """(the user's deep link or None, invited, of them paid, the bonus in credits)."""
        ...

    def opt_out(self) -> None: ...

    def opt_in(self) -> bool:
        """Back in the broadcast audience; True when the user was out."""
        ...

    def invited_now(self) -> bool:
        """This update bound the (new) user to an inviter."""
        ...

    def start_broadcast(self, draft: dict[str, Any], dedup_key: str) -> tuple[int, int] | None:
        """(broadcast id, recipients), or None when ``dedup_key`` already started one."""
        ...

    def stored_results(self, limit: int) -> list[StoredResult]: ...


def ops(s: Session) -> GrowthOps | None:
    found = getattr(s.ctx, "growth", None)
    return found if found is not None else None


def unavailable(s: Session) -> None:
    s.say(texts.t(s.lang, "unknown_command", name="…"))


# --- /start, /stop, /invite ------------------------------------------------------------------


def start(s: Session, args: str) -> None:
    """/start [ref_<code>]: the main menu; back in the broadcast audience; a line for a user
    who just arrived through an invitation (bound by the chat actor)."""
    g = ops(s)
    if g is not None:
        g.opt_in()
        if args.strip() and g.invited_now():
            s.say(s.t("invite.bound"))
    s.st["wizard"] = None
    s.st["broadcast"] = None
    commands.main_menu(s)


def stop(s: Session) -> None:
    g = ops(s)
    if g is None:
        unavailable(s)
        return
    g.opt_out()
    s.say(s.t("stop"))


def invite(s: Session) -> None:
    g = ops(s)
    if g is None:
        unavailable(s)
        return
    link, invited, paid, bonus = g.invite()
    if link is None:
        s.say(s.t("invite.no_link"))
    elif bonus <= 0:
        s.say(f"{s.t('invite.off')}\n{link}")
    else:
        s.say(s.t("invite", link=link, bonus=s.credits(bonus), invited=invited, paid=paid))


# --- /broadcast ------------------------------------------------------------------------------


def composing(s: Session) -> dict[str, Any] | None:
    b = s.st.get("broadcast")
    return b if isinstance(b, dict) else None


def broadcast(s: Session) -> None:
    """/broadcast (admins): ask for the message."""
    if not s.ctx.is_admin:
        s.say(s.t("admin.only"))
        return
    if ops(s) is None:
        unavailable(s)
        return
    s.st["wizard"] = None
    s.st["broadcast"] = {"phase": "compose"}
    s.invalidate()
    s.say(s.t("bc.ask"))


def compose_text(s: Session, text: str) -> None:
    _preview(s, {"text": text[:4000]})


def compose_media(s: Session, event: MediaSent) -> None:
    if event.kind != "photo" or not event.file_id:
        s.say(s.t("bc.wrong"))
        return
    _preview(s, {"photo": event.file_id, "caption": (event.caption or "")[:_MAX_CAPTION]})


def _preview(s: Session, draft: dict[str, Any]) -> None:
    s.st["broadcast"] = {"phase": "confirm", "draft": draft}
    shown = draft.get("text") or f"{s.t('bc.photo')}\n{draft.get('caption') or ''}".strip()
    rows: list[Row] = [[(s.t("btn.bc_send"), ["bcsend"]), (s.t("btn.bc_cancel"), ["bccancel"])]]
    s.screen(s.t("bc.confirm", preview=shown)[:4000], rows)


def send(s: Session, menu: int) -> None:
    """The confirm screen's Send."""
    b = composing(s)
    g = ops(s)
    if not s.ctx.is_admin or b is None or b.get("phase") != "confirm" or g is None:
        s.say(texts.menu_expired(s.lang))
        return
    started = g.start_broadcast(dict(b["draft"]), f"bc:{s.ctx.chat_id}:{menu}")
    s.st["broadcast"] = None
    s.invalidate()
    if started is None:
        s.say(s.t("bc.already"), replace=True)
    else:
        s.say(s.t("bc.started", id=started[0], total=started[1]), replace=True)


def cancel(s: Session) -> None:
    s.st["broadcast"] = None
    s.invalidate()
    s.say(s.t("bc.cancelled"), replace=True)


# --- /history --------------------------------------------------------------------------------


def history(s: Session) -> None:
    """The list of recent jobs, then the newest results again by file_id, each with Again."""
    commands.history(s)
    g = ops(s)
    if g is None:
        return
    stored = g.stored_results(RESENT_LIMIT)
    if not stored:
        return
    s.say(s.t("history.again_below"))
    for result in reversed(stored):  # oldest first: the newest ends up at the bottom
        s.replies.append(_resent(s, result))


def _resent(s: Session, result: StoredResult) -> MediaReply:
    model = s.catalog.models.get(result.model_id)
    title = model.title.get(s.lang) if model else result.model_id
    caption = s.t("history.resent", job=result.job_id, title=title,
                  when=result.created_at.strftime("%Y-%m-%d %H:%M"))
    again = ((s.t("next.again"), f"{next_step.AGAIN_PREFIX}{result.job_id}"),)
    return MediaReply(files=tuple((f["media"], f["file_id"]) for f in result.files),
                      caption=caption[:_MAX_CAPTION], buttons=(again,))
