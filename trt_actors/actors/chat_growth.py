"""The growth commands' view of the database (``conversation.growth.GrowthOps``), inside the
chat actor's transaction for the update being handled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trt_actors.actors.chat_rules import BOT_USERNAME_KEY
from trt_actors.conversation import texts
from trt_actors.domain import broadcast, history, referrals
from trt_actors.domain.history import StoredResult
from trt_actors.infra.store import Tx

if TYPE_CHECKING:
    from trt_actors.actors.chat import ChatDeps


class DbGrowth:
    """Referrals, the broadcast audience, broadcasts and stored results for one update."""

    def __init__(self, tx: Tx, deps: ChatDeps, *, user_id: int, chat_id: int,
                 language: str) -> None:
        self.tx, self.deps = tx, deps
        self.user_id, self.chat_id, self.language = user_id, chat_id, language
        self.invited = False
        """Set by the chat actor: this update created the user and bound it to an inviter."""

    def invite(self) -> tuple[str | None, int, int, int]:
        row = self.tx.one("state_get", key=BOT_USERNAME_KEY)
        link = referrals.link(str(row["value"]) if row else None, self.user_id)
        invited, paid = referrals.counts(self.tx, self.user_id)
        return link, invited, paid, self.deps.job_messages.referral_credits

    def opt_out(self) -> None:
        broadcast.stop(self.tx, self.user_id)

    def opt_in(self) -> bool:
        return broadcast.start_again(self.tx, self.user_id)

    def invited_now(self) -> bool:
        return self.invited

    def start_broadcast(self, draft: dict[str, Any], dedup_key: str) -> tuple[int, int] | None:
        if self.user_id not in self.deps.admin_ids:
            raise PermissionError("broadcast is for admins only")
        payload = ({"text": str(draft["text"])} if draft.get("text")
                   else {"photo": str(draft["photo"]), "caption": str(draft.get("caption") or "")})
        return broadcast.create(
            self.tx, admin_id=self.user_id, chat_id=self.chat_id, payload=payload,
            dedup_key=dedup_key, progress_text=self._progress_text)

    def _progress_text(self, broadcast_id: int, p: broadcast.Progress) -> str:
        return texts.t(self.language, "bc.progress", id=broadcast_id, total=p.total,
                       sent=p.sent, blocked=p.blocked, left=p.left)

    def stored_results(self, limit: int) -> list[StoredResult]:
        return history.of_user(self.tx, self.user_id, limit)
