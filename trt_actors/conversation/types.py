"""The conversation engine's seam: what comes in, what goes out, what it asks of the chat actor.

All values are small frozen dataclasses. ``conversation.py`` re-exports every public name
here; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from trt_actors.catalog.model import Catalog

# --- what the engine answers ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button:
    """One inline keyboard button."""

    label: str
    """What the user sees."""
    data: str
    """callback_data: ``"<menu id>:<index>"``, always far below Telegram's 64-byte limit."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A message to send (or an edit of the message whose button was pressed)."""

    text: str
    """Plain text (no parse mode)."""
    buttons: tuple[tuple[Button, ...], ...] = ()
    """Inline keyboard rows; empty means no keyboard."""
    replace: bool = False
    """Edit the message whose button was pressed instead of sending a new one."""


@dataclass(frozen=True, slots=True)
class InvoiceReply:
    """A Telegram Stars invoice to send (sendInvoice, currency XTR, no provider token)."""

    title: str
    description: str
    payload: str
    """``"topup:<credits>:<stars>"``; checked by ``validate_invoice_payload``."""
    stars: int
    """Price in Telegram Stars."""
    credits: int
    """Credits granted when paid."""


@dataclass(frozen=True, slots=True)
class MediaReply:
    """Files Telegram already has, sent again by ``file_id`` (a result in /history), the
    caption on the first and the buttons under the last."""

    files: tuple[tuple[str, str], ...]
    """``(media, file_id)`` per part; media is ``photo``, ``video``, ``audio``, ``document``."""
    caption: str
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()
    """Rows of ``(label, callback data)``; data that belongs to no menu (``again:<job>``)."""


Answer = Reply | InvoiceReply | MediaReply

# --- what comes in -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """The user typed a message (not a command)."""

    text: str


@dataclass(frozen=True, slots=True)
class Command:
    """The user sent ``/name args``."""

    name: str
    """Without the slash; ``"start@MyBot"`` is accepted and means ``"start"``."""
    args: str = ""
    """Everything after the command, unparsed."""


@dataclass(frozen=True, slots=True)
class ButtonPressed:
    """The user pressed an inline button."""

    data: str
    """The button's callback_data."""
    message_id: int
    """The message carrying the button (edited when a reply has ``replace=True``)."""


@dataclass(frozen=True, slots=True)
class MediaSent:
    """The user sent a photo, document, video, audio, voice note, ... instead of text."""

    kind: str
    """Telegram's name: ``photo``, ``document``, ``video``, ``audio``, ``voice``, ..."""
    file_id: str | None = None
    file_unique_id: str | None = None
    size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None
    duration: int | None = None
    media_group_id: str | None = None
    """Set on each message of an album."""
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class FileReady:
    """A file the user sent is uploaded to KIE (``transfer_id`` as the engine asked)."""

    transfer_id: str
    url: str
    uploaded_at: float


@dataclass(frozen=True, slots=True)
class FileFailed:
    """A file the user sent could not be uploaded: ``too_big``, ``telegram`` or ``kie``."""

    transfer_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PaymentReceived:
    """A successful_payment for one of our Stars invoices."""

    charge_id: str
    """telegram_payment_charge_id: unique per payment, so a replay credits nothing."""
    payload: str
    """The invoice payload we issued."""
    stars: int
    """total_amount paid, in Stars."""


Event = Text | Command | ButtonPressed | MediaSent | PaymentReceived | FileReady | FileFailed

# --- what the engine asks of the chat actor ------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    """The job that a confirm created, or found under the same idempotency key."""

    job_id: int
    created: bool
    """False when the key already had a job (a double tap, a replayed update)."""


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One line of /history."""

    job_id: int
    model_id: str
    state: str
    """A ``states.JobState`` value."""
    price: int
    result_urls: tuple[str, ...]
    created_at: datetime
    failure: str | None
    """A ``states.Failure`` value when the job failed."""


@dataclass(frozen=True, slots=True)
class JobResult:
    """A delivered job of this user, for the "next step" buttons under its result."""

    job_id: int
    model_id: str
    inputs: dict[str, Any]
    """The order's inputs, as confirmed."""
    result_urls: tuple[str, ...]
    """KIE's result URLs (what the next model gets, never a re-upload)."""
    age_s: float = 0.0
    """Seconds since the job was created (KIE's result URLs do not live for ever)."""
    task_id: str | None = None
    """The KIE task that gave the result (what a follow-up such as Veo's extend names)."""
    result_ids: tuple[str, ...] = ()
    """KIE's ids of the results, in ``result_urls`` order (Suno: the tracks' ids)."""


@dataclass(frozen=True, slots=True)
class TopupSummary:
    """One Stars top-up of this user, for /balance."""

    credits: int
    created_at: datetime
    reversed: int | None = None
    """Credits taken back when an admin refunded it (None: not refunded)."""


class ChatContext(Protocol):
    """What the engine may ask of the chat actor (PostgreSQL behind it; a fake in unit tests).

    Every method is one short transaction; the engine calls them synchronously while it
    handles one event.
    """

    user_id: int
    chat_id: int
    is_admin: bool
    life: str
    """This run of the node (a file transfer of another run never answers)."""

    def balance(self) -> int:
        """The user's spendable credits (holds already taken off)."""
        ...

    def confirm_job(
        self, model_id: str, inputs: dict[str, Any], price: int, idempotency_key: str,
        *, files: list[dict[str, Any]] | None = None,
    ) -> ConfirmResult:
        """Create the job and its credit hold in one transaction, once per key; ``files``:
        the records of the files sent as inputs (``files.records``), kept with the job.

        Raises ``errors.InsufficientCredits``, ``errors.FreeLimitReached`` or
        ``errors.UserLimitReached`` (jobs in flight, confirms per minute) and creates nothing.
        """
        ...

    def recent_jobs(self, limit: int) -> list[JobSummary]:
        """The user's newest jobs, newest first."""
        ...

    def job_result(self, job_id: int) -> JobResult | None:
        """This user's delivered job ``job_id``; None when it is someone else's, not
        delivered, or gone (older than the retention)."""
        ...

    def cancel_pending_job(self) -> int | None:
        """Cancel (and release) the newest job KIE has not got yet; its id, or None.

        Raises ``errors.CancelTooLate`` when its createTask began between the look and the
        cancel (the job goes on, its hold stays).
        """
        ...

    def grant(self, target_user_id: int, amount: int) -> int:
        """Admin grant; the target's new balance."""
        ...

    def recent_topups(self, limit: int) -> list[TopupSummary]:
        """The user's newest Stars top-ups, newest first."""
        ...

    def credit_topup(self, charge_id: str, credits: int) -> bool:
        """Credit a Stars payment; False if this charge id was already credited."""
        ...

    def stats(self) -> dict[str, Any]:
        """A few numbers for /stats."""
        ...

    def transfer_file(self, transfer_id: str, file_id: str, *, size: int | None,
                      mime_type: str | None, name_hint: str) -> None:
        """Bring a file the user sent to KIE, after this event commits (off the actor's
        thread); its outcome comes back as a ``FileReady`` or ``FileFailed`` event."""
        ...

    def popular_models(self, limit: int) -> list[str]:
        """Model ids by the last days' confirmed jobs, most first (at most ``limit``)."""
        ...

    def set_model_enabled(self, model_id: str, enabled: bool) -> Catalog:
        """Admin: turn a model on or off for everyone; the effective catalog after it."""
        ...

    def set_model_price(self, model_id: str, price: int | None) -> Catalog:
        """Admin: a model's price in credits (None: the catalog's); the effective catalog
        after it."""
        ...


# --- Telegram Stars packs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StarPack:
    """A top-up offer: pay ``stars``, get ``credits``."""

    stars: int
    credits: int

    @property
    def payload(self) -> str:
        return f"topup:{self.credits}:{self.stars}"


STAR_PACKS: tuple[StarPack, ...] = (StarPack(50, 50), StarPack(100, 110), StarPack(250, 300))
"""Bigger packs give a bonus."""


def pack_for_payload(payload: str) -> StarPack | None:
    """The pack an invoice payload names, or None if it names none of ours."""
    return next((p for p in STAR_PACKS if p.payload == payload), None)


def validate_invoice_payload(payload: str) -> int | None:
    """Credits for a valid invoice payload, for answerPreCheckoutQuery (None: refuse it).

    The caller should also check the query's ``total_amount`` equals the pack's stars
    (``pack_for_payload(payload).stars``).
    """
    pack = pack_for_payload(payload)
    return pack.credits if pack else None
