"""What a user sees of a job's life, written into the outbox in the transaction of the move
that caused it (so a crash can never separate the two): the progress message at confirm and
its edits, the result, the failure with its reason; and, when a part of the result was maybe
sent (its send timed out after Telegram had it), a follow-up whose button re-sends it on
request: free, at most ``RESEND_CAP`` times per job.
"""

from __future__ import annotations

from dataclasses import replace

from trt_actors.catalog.model import Catalog
from trt_actors.conversation import texts
from trt_actors.conversation.next_step import result_buttons
from trt_actors.domain import ledger, referrals
from trt_actors.domain.jobs import Job, load
from trt_actors.domain.outbox import add
from trt_actors.domain.states import Failure, JobState
from trt_actors.infra.store import Tx, jsonb

RESEND_CAP = 3
"""Re-sends of one job's result a user may ask for (free; each is a send in the chat)."""
RESEND_PREFIX = "resend:"
"""The follow-up button's callback data: ``resend:<job id>`` (not a menu: it never expires)."""


def language_of(tx: Tx, user_id: int) -> str:
    row = tx.one("user_get", user_id=user_id)
    return texts.lang_for(row["language"] if row else None)


class JobMessages:
    """The outbox side of a job's life: progress, result, failure.

    ``progress_after_s`` > 0: the progress message is due that long after confirm, and a job
    with its outcome before then never shows one (its result or failure comes alone); 0: it
    goes at once."""

    def __init__(self, catalog: Catalog, *, referral_credits: int = 0,
                 progress_after_s: float = 0.0) -> None:
        self.catalog = catalog
        self.referral_credits = referral_credits
        """``TRT_REFERRAL_CREDITS``: paid to the inviter at an invitee's first paid delivery."""
        self.progress_after_s = progress_after_s

    def accepted(self, tx: Tx, job: Job) -> None:
        """The progress message, sent once (``progress_after_s`` after confirm); later
        stages edit it."""
        lang = language_of(tx, job.user_id)
        outbox_id = add(tx, job.chat_id, "status",
                        {"text": texts.job_progress(lang, "queued", job_id=job.id)},
                        dedup_key=f"job:{job.id}:status", job_id=job.id,
                        delay=self.progress_after_s)
        if outbox_id is not None:
            tx.run("job_set_status_message", job_id=job.id, outbox_id=outbox_id)

    def progress(self, tx: Tx, job: Job) -> None:
        if job.status_outbox_id is None:
            return
        lang = language_of(tx, job.user_id)
        payload = {"text": texts.job_progress(lang, "generating", job_id=job.id)}
        if tx.one("outbox_deferred_rewrite", id=job.status_outbox_id, payload=jsonb(payload)):
            return  # not shown yet: it will show this stage when it goes
        add(tx, job.chat_id, "status_edit",
            {**payload, "status_outbox_id": job.status_outbox_id},
            dedup_key=f"job:{job.id}:status:{job.state.value}", job_id=job.id)

    def _ended(self, tx: Tx, job: Job) -> Job:
        """The job has its outcome: a progress message not due yet is dropped unsent (and
        forgotten by the job, so nothing will edit it); the job as it is now."""
        if job.status_outbox_id is None or \
                tx.one("outbox_deferred_drop", id=job.status_outbox_id) is None:
            return job
        tx.run("job_set_status_message", job_id=job.id, outbox_id=None)
        return replace(job, status_outbox_id=None)

    def result_ready(self, tx: Tx, job: Job) -> None:
        self._ended(tx, job)
        add(tx, job.chat_id, "result", self._result_payload(tx, job, list(job.result_urls)),
            dedup_key=f"job:{job.id}:result", job_id=job.id)

    def _result_payload(self, tx: Tx, job: Job, urls: list[str]) -> dict[str, object]:
        lang = language_of(tx, job.user_id)
        model = self.catalog.models.get(job.model_id)
        title = model.title.get(lang) if model else job.model_id
        kind = model.result_kind.value if model else "document"
        # The "next step" buttons (and "Again"): under the last part, or a follow-up text.
        return {"urls": urls, "result_kind": kind, "text": job.result_text,
                "caption": texts.result_caption(lang, title, job_id=job.id),
                "buttons": result_buttons(self.catalog, lang, job.id, job.model_id),
                "buttons_text": texts.t(lang, "next.buttons")}

    def maybe_not_arrived(self, tx: Tx, job: Job) -> None:
        """After a delivery with parts whose send timed out: the button to get them again."""
        lang = language_of(tx, job.user_id)
        add(tx, job.chat_id, "text",
            {"text": texts.t(lang, "result.maybe_sent", job=job.id),
             "buttons": [[{"label": texts.t(lang, "result.resend_button"),
                           "data": f"{RESEND_PREFIX}{job.id}"}]]},
            dedup_key=f"job:{job.id}:maybe_sent", job_id=job.id)

    def resend(self, tx: Tx, job_id: int, user_id: int) -> str:
        """The owner pressed "send it again": queue the parts that maybe did not arrive (all
        of them when none is recorded), free, up to ``RESEND_CAP`` times; the answer to show."""
        lang = language_of(tx, user_id)
        job = load(tx, job_id)
        if job is None or job.user_id != user_id or job.state is not JobState.DELIVERED \
                or not job.result_urls:
            return texts.t(lang, "result.resend_unavailable")
        row = tx.one("result_resends", job_id=job.id) or {}
        done = int(row.get("resends") or 0)
        if done >= RESEND_CAP:
            return texts.t(lang, "result.resend_capped", n=RESEND_CAP)
        urls = [str(u) for u in row.get("maybe_sent") or []] or list(job.result_urls)
        add(tx, job.chat_id, "resend", self._result_payload(tx, job, urls),
            dedup_key=f"job:{job.id}:resend:{done + 1}", job_id=job.id)
        return texts.t(lang, "result.resend_queued")

    def delivered(self, tx: Tx, job: Job) -> None:
        """In the transaction of the move to DELIVERED: the progress message's last edit,
        and the inviter's bonus when this is the invitee's first paid job."""
        if self.referral_credits > 0:
            referrals.pay(tx, job, self.referral_credits,
                          lambda inviter: self._referral_notice(tx, inviter))
        if job.status_outbox_id is None:
            return
        lang = language_of(tx, job.user_id)
        add(tx, job.chat_id, "status_edit",
            {"text": texts.job_progress(lang, "done", job_id=job.id),
             "status_outbox_id": job.status_outbox_id},
            dedup_key=f"job:{job.id}:status:done", job_id=job.id)

    def failed(self, tx: Tx, job: Job, failure: Failure, detail: str | None) -> None:
        lang = language_of(tx, job.user_id)
        text = texts.failure_message(lang, failure.value, job_id=job.id, price=job.price,
                                     kie_message=detail if failure is Failure.KIE_FAILED else None)
        if failure is Failure.UNDELIVERABLE:
            return  # the chat refuses our messages; telling it would fail the same way
        job = self._ended(tx, job)
        if job.status_outbox_id is not None:
            add(tx, job.chat_id, "status_edit",
                {"text": text, "status_outbox_id": job.status_outbox_id},
                dedup_key=f"job:{job.id}:failed", job_id=job.id)
        else:
            add(tx, job.chat_id, "text", {"text": text}, dedup_key=f"job:{job.id}:failed",
                job_id=job.id)

    def _referral_notice(self, tx: Tx, inviter: int) -> str:
        lang = language_of(tx, inviter)
        return texts.t(lang, "referral.paid", bonus=texts.credits(lang, self.referral_credits),
                       balance=texts.credits(lang, ledger.balance(tx, inviter).available))
