"""The conversation engine's view of the database (``conversation.ChatContext``), inside the
chat actor's transaction for the update being handled."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trt_actors.actors.chat_growth import DbGrowth
from trt_actors.catalog.model import Catalog
from trt_actors.conversation.engine import ConfirmResult, JobResult, JobSummary
from trt_actors.conversation.types import TopupSummary
from trt_actors.domain import admin, jobs, ledger, model_settings
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.errors import CancelTooLate
from trt_actors.infra.store import Tx
from trt_actors.messages import TransferFile

if TYPE_CHECKING:
    from trt_actors.actors.chat import ChatDeps

log = logging.getLogger("trt.chat")


def effective_catalog(tx: Tx, deps: ChatDeps) -> Catalog:
    """The catalog as of this transaction: the operator's settings over the packaged one."""
    return deps.catalog.with_settings(model_settings.read(tx))


class DbChatContext:
    """One update's worth of database access for the conversation engine."""

    def __init__(self, tx: Tx, deps: ChatDeps, *, user_id: int, chat_id: int,
                 language: str, update_id: int) -> None:
        self.tx, self.deps, self.update_id = tx, deps, update_id
        self.user_id, self.chat_id, self.language = user_id, chat_id, language
        self.is_admin = user_id in deps.admin_ids
        self.life = deps.life
        self.confirmed: list[int] = []
        """Jobs created by this update; routed to their actors after the commit."""
        self.transfers: list[TransferFile] = []
        """Files to bring to KIE; handed to the transfer port after the commit."""
        self.growth = DbGrowth(tx, deps, user_id=user_id, chat_id=chat_id, language=language)
        """Referrals, broadcasts, stored results (``conversation.growth``)."""

    def balance(self) -> int:
        return ledger.balance(self.tx, self.user_id).available

    def confirm_job(self, model_id: str, inputs: dict[str, Any], price: int,
                    idempotency_key: str, *,
                    files: list[dict[str, Any]] | None = None) -> ConfirmResult:
        model = self.deps.catalog.packaged.get(model_id)  # its price: the order's, as shown
        new = jobs.NewJob(
            user_id=self.user_id, chat_id=self.chat_id, model_id=model.id,
            family=model.family.value, input=inputs, price=price, free=model.free,
            expected_seconds=model.expected_seconds, max_seconds=model.max_seconds,
            idempotency_key=idempotency_key, files=tuple(files or ()))
        # Per-user limits (admins exempt), checked after the idempotency key so a second press
        # of the same confirm still answers with its job.
        if not self.is_admin and self.tx.one(
                "job_by_idempotency_key", idempotency_key=idempotency_key) is None:
            admin.check_confirm(self.tx, self.user_id, self.deps.account)
        # A savepoint: a refused hold (``InsufficientCredits``, ``FreeLimitReached``, raised to
        # the engine as they are) rolls back only the confirm, not the update.
        with self.tx.savepoint():
            job, created = jobs.confirm_in(
                self.tx, new,
                free_daily_limit=self.deps.free_daily_limit if model.free else None)
            if created:
                self.deps.job_messages.accepted(self.tx, job)
        if created:
            self.confirmed.append(job.id)
        return ConfirmResult(job.id, created)

    def recent_jobs(self, limit: int) -> list[JobSummary]:
        rows = self.tx.all("jobs_of_user", user_id=self.user_id, limit=limit)
        return [JobSummary(r["id"], r["model_id"], r["state"], r["price"],
                           tuple(r["result_urls"] or ()), r["created_at"], r["failure"])
                for r in rows]

    def job_result(self, job_id: int) -> JobResult | None:
        job = jobs.load(self.tx, job_id)
        if job is None or job.user_id != self.user_id or job.state is not JobState.DELIVERED \
                or not job.result_urls:
            return None  # gone with the retention, someone else's, or never delivered
        age = (datetime.now(UTC) - job.created_at).total_seconds()
        task_id = next((t["task_id"] for t in self.tx.all("tasks_of_job", job_id=job.id)
                        if t["state"] == "success"), None)
        return JobResult(job.id, job.model_id, dict(job.input), tuple(job.result_urls), age,
                         task_id, job.result_ids)

    def cancel_pending_job(self) -> int | None:
        row = self.tx.one("job_cancel_candidate", user_id=self.user_id)
        if row is None:
            return None
        # Only from `created`, in the guarded UPDATE itself: the job actor may commit
        # created -> submitting between the read above and this write, and then KIE is being
        # paid for the task: the hold must stay and the result must come.
        moved = jobs.move(self.tx, row["id"], JobState.FAILED, Cause.USER,
                          failure=Failure.CANCELLED, detail="cancelled by the user",
                          only_from=(JobState.CREATED,))
        if moved is None:
            now = jobs.load(self.tx, row["id"])  # a new snapshot: what won the race
            if now is not None and not now.state.terminal:
                raise CancelTooLate(row["id"])
            return None  # ended meanwhile (its deadline): nothing left to cancel
        self.deps.job_messages.failed(self.tx, moved, Failure.CANCELLED, None)
        return moved.id

    def grant(self, target_user_id: int, amount: int) -> int:
        if not self.is_admin:
            raise PermissionError("grant is for admins only")
        # A savepoint: a refused write (raised to the engine, which tells the admin) rolls
        # back only the grant; the update's reply and its "handled" mark still commit.
        with self.tx.savepoint():
            ledger.ensure_user(self.tx, target_user_id)
            # One grant per update: the reference makes a replayed update grant nothing.
            ref = f"grant:update:{self.update_id}"
            balance = ledger.apply(self.tx, target_user_id, ledger.Entry.GRANT, amount, ref,
                                   note=f"by admin {self.user_id}")
            if balance is not None:
                admin.audit(self.tx, self.user_id, "grant", target_user=target_user_id,
                            detail=f"+{amount}")
        if balance is None:
            return ledger.balance(self.tx, target_user_id).available
        return balance.available

    def recent_topups(self, limit: int) -> list[TopupSummary]:
        return [TopupSummary(r["amount"], r["created_at"], r["reversed"])
                for r in self.tx.all("user_topups", user_id=self.user_id, limit=limit)]

    def credit_topup(self, charge_id: str, credits: int) -> bool:
        return ledger.apply(self.tx, self.user_id, ledger.Entry.TOPUP, credits,
                            f"topup:{charge_id}", note="telegram stars") is not None

    def stats(self) -> dict[str, Any]:
        return dict(self.tx.one("bot_stats") or {})

    def transfer_file(self, transfer_id: str, file_id: str, *, size: int | None,
                      mime_type: str | None, name_hint: str) -> None:
        self.transfers.append(TransferFile(self.chat_id, transfer_id, file_id, size=size,
                                           mime_type=mime_type, name_hint=name_hint))

    def popular_models(self, limit: int) -> list[str]:
        return model_settings.popular(self.tx, limit=limit)

    def set_model_enabled(self, model_id: str, enabled: bool) -> Catalog:
        if not self.is_admin:
            raise PermissionError("model settings are for admins only")
        model_settings.set_enabled(self.tx, model_id, enabled, by=self.user_id)
        log.info("admin %s turned model %s %s", self.user_id, model_id,
                 "on" if enabled else "off")
        return effective_catalog(self.tx, self.deps)

    def set_model_price(self, model_id: str, price: int | None) -> Catalog:
        if not self.is_admin:
            raise PermissionError("model settings are for admins only")
        model_settings.set_price(self.tx, model_id, price, by=self.user_id)
        log.info("admin %s set the price of model %s to %s", self.user_id, model_id,
                 "the catalog's" if price is None else price)
        return effective_catalog(self.tx, self.deps)
