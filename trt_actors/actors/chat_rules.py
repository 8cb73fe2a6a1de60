"""Updates the chat actor answers without the conversation engine.

- **Private chats only.** In a group, supergroup or channel every member sees (and may press)
  every button, so one member could confirm, and pay for, another's order. There the bot
  answers a command with one line pointing to a private chat, a button press with an answer
  saying the same, and changes nothing else: no session, no user, no job, no hold. (A
  payment is the exception: money already paid is always credited to whoever paid.)
- **Banned users** (``/ban``) get one line, ``banned``, to anything they send, and nothing
  else (no session, no job); their jobs already in flight finish and are delivered.
- **"Send it again"**: the button under the follow-up of a result part whose send timed out
  (``JobMessages.maybe_not_arrived``) re-sends it, free and capped; it belongs to no menu, so
  it never expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trt_actors.conversation import desk, texts
from trt_actors.conversation.engine import ButtonPressed, Command, Event, PaymentReceived
from trt_actors.conversation.job_messages import RESEND_PREFIX
from trt_actors.domain import outbox
from trt_actors.infra.store import Tx

if TYPE_CHECKING:
    from trt_actors.actors.chat import ChatDeps

BOT_USERNAME_KEY = "bot_username"
"""``node_state`` key of the bot's username (getMe's), written by the delivery actor at start."""


@dataclass(frozen=True, slots=True)
class Handled:
    """The update was answered here; the engine does not see it."""

    answer: str | None = None
    """The text of the answer to a button press (None: a plain answer, or no press)."""


def chat_type(update: dict[str, Any]) -> str:
    """private | group | supergroup | channel: the chat the update happened in."""
    message = update.get("message")
    if message is None and (query := update.get("callback_query")) is not None:
        message = query.get("message")
    chat = (message or {}).get("chat") or {}
    return str(chat.get("type") or "private")


def handle_outside(tx: Tx, deps: ChatDeps, *, chat_id: int, update_id: int,
                   update: dict[str, Any], event: Event | None,
                   user: dict[str, Any] | None) -> Handled | None:
    """Answer the update here (see the module's rules), or None: the engine's to handle."""
    if event is None or user is None or isinstance(event, PaymentReceived):
        return None
    lang = texts.lang_for(user.get("language_code"))
    if chat_type(update) != "private":
        row = tx.one("state_get", key=BOT_USERNAME_KEY)
        line = texts.private_only(lang, str(row["value"]) if row else None)
        if isinstance(event, Command):
            outbox.add(tx, chat_id, "text", {"text": line}, dedup_key=f"upd:{update_id}:0")
        return Handled(line if isinstance(event, ButtonPressed) else None)
    if desk.is_banned_user(tx, int(user["id"]), deps.admin_ids):  # one line, nothing else
        line = texts.t(lang, "banned")
        if not isinstance(event, ButtonPressed):
            outbox.add(tx, chat_id, "text", {"text": line}, dedup_key=f"upd:{update_id}:0")
        return Handled(line if isinstance(event, ButtonPressed) else None)
    if isinstance(event, ButtonPressed) and event.data.startswith(RESEND_PREFIX):
        job_id = event.data.removeprefix(RESEND_PREFIX)
        if not job_id.isdigit():
            return Handled(texts.menu_expired(lang))
        return Handled(deps.job_messages.resend(tx, int(job_id), int(user["id"])))
    return None
