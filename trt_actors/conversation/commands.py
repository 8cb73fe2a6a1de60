"""Screens outside the wizard: main menu, catalog, model card, account, admin, payments."""

from __future__ import annotations

from typing import Any

from trt_actors.catalog.model import ModelSpec
from trt_actors.conversation import models_menu, texts, wizard
from trt_actors.conversation.session import Row, Session
from trt_actors.conversation.types import (
    STAR_PACKS,
    InvoiceReply,
    PaymentReceived,
    pack_for_payload,
)
from trt_actors.errors import CancelTooLate, DatabaseUnavailable, TrtError

HISTORY_LIMIT = 10
_MAX_TEXT = 4000  # Telegram allows 4096 characters per message
_URLS_PER_JOB = 3
MAX_PRICE = 1_000_000
"""The highest price /price sets, in credits (a typo's extra zeros stop here)."""


# --- main menu and the model card ----------------------------------------------------------


def main_menu(s: Session, *, replace: bool = False) -> None:
    """/start: balance, the catalog (categories, popular, new, free), top-up, language, help."""
    rows = models_menu.catalog_rows(s)
    rows.append([(s.t("btn.topup"), ["topup"]), (s.t("btn.lang"), ["lang"]),
                 (s.t("btn.help"), ["help"])])
    text = f"{s.t('start', balance=s.credits(s.ctx.balance()))}\n{s.t('start.search')}"
    s.screen(text, rows, replace=replace)


def gen_command(model: ModelSpec, values: dict[str, Any]) -> str:
    """The /gen line that orders ``values`` from ``model`` (shown on the model card)."""
    parts = ["/gen", model.id]
    for f in model.fields:
        if f.name not in values:
            continue
        value = values[f.name]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | tuple):
            text = " ".join(str(v) for v in value)
        else:
            text = str(value)
        if not text or any(c.isspace() or c in "\"'\\" for c in text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{f.name}={text}")
    return " ".join(parts)


def model_card(s: Session, model: ModelSpec, *, back_to: list[Any]) -> None:
    """What the model does, its price or "free", how long it takes, an example, Start."""
    lines = [models_menu.title(s, model), model.description.get(s.lang), "",
             s.t("card.price", price=models_menu.price_label(s, model)),
             s.t("card.time", expected=texts.duration(s.lang, model.expected_seconds),
                 max=texts.duration(s.lang, model.max_seconds))]
    if model.example:
        lines += ["", s.t("card.example")]
        for f in model.fields:
            if f.name in model.example:
                shown = wizard.show_value(s, f, model.example[f.name])
                lines.append(f"• {wizard.name(s, f)}: {shown}")
        lines += ["", s.t("card.gen", command=gen_command(model, model.example))]
    rows: list[Row] = [[(s.t("btn.start_model"), ["start", model.id])],
                       [(s.t("btn.back"), back_to)]]
    s.screen("\n".join(lines)[:_MAX_TEXT], rows, replace=True)


# --- account ---------------------------------------------------------------------------------


TOPUPS_SHOWN = 5


def balance(s: Session) -> None:
    """/balance: the spendable credits, then the latest Stars top-ups (and their refunds)."""
    lines = [s.t("balance", balance=s.credits(s.ctx.balance()))]
    topups = s.ctx.recent_topups(TOPUPS_SHOWN)
    if topups:
        lines += ["", s.t("balance.topups")]
    for p in topups:
        when = p.created_at.strftime("%Y-%m-%d")
        lines.append(s.t("balance.topup", when=when, credits=s.credits(p.credits))
                     if p.reversed is None else
                     s.t("balance.topup_refunded", when=when, credits=s.credits(p.credits),
                         reversed=s.credits(p.reversed)))
    s.say("\n".join(lines))


def history(s: Session) -> None:
    """/history: recent jobs with state, price and result links."""
    jobs = s.ctx.recent_jobs(HISTORY_LIMIT)
    if not jobs:
        s.say(s.t("history.empty"))
        return
    lines = [s.t("history.title")]
    for job in jobs:
        model = s.catalog.models.get(job.model_id)
        title = model.title.get(s.lang) if model else job.model_id
        state = s.t(f"state.{job.state}") if texts.has_text(f"state.{job.state}") else job.state
        if job.failure and texts.has_text(f"why.{job.failure}"):
            state += f" ({s.t(f'why.{job.failure}')})"
        price = s.t("price.free") if job.price == 0 else s.credits(job.price)
        when = job.created_at.strftime("%Y-%m-%d %H:%M")
        block = [f"#{job.job_id} · {title} · {state} · {price} · {when}"]
        block += [f"  {url}" for url in job.result_urls[:_URLS_PER_JOB]]
        if sum(len(x) + 1 for x in lines + block) > _MAX_TEXT:
            break
        lines += block
    s.say("\n".join(lines))


def cancel(s: Session) -> None:
    """/cancel: the wizard if one is running, else the newest job KIE has not got yet."""
    if s.wizard is not None:
        s.st["wizard"] = None
        s.invalidate()
        s.say(s.t("cancel.wizard"))
        return
    try:
        job_id = s.ctx.cancel_pending_job()
    except CancelTooLate as late:  # its createTask began a moment ago: it will be delivered
        s.say(s.t("cancel.too_late", job=late.job_id))
        return
    s.say(s.t("cancel.job", job=job_id) if job_id is not None else s.t("cancel.nothing"))


def language_menu(s: Session, *, replace: bool = False) -> None:
    rows: list[Row] = [[("English", ["setlang", "en"]), ("Русский", ["setlang", "ru"])]]
    s.screen(s.t("lang.choose"), rows, replace=replace)


def set_language(s: Session, lang: str) -> None:
    s.st["lang"] = lang if lang in texts.LANGS else None
    s.say(s.t("lang.set"), replace=True)
    wizard.show_current(s)


def topup_menu(s: Session, *, replace: bool = False) -> None:
    rows: list[Row] = [[(s.t("btn.pack", stars=p.stars, credits=s.credits(p.credits)),
                         ["pack", p.payload])] for p in STAR_PACKS]
    s.screen(s.t("topup.choose", balance=s.credits(s.ctx.balance())), rows, replace=replace)


def invoice(s: Session, payload: str) -> None:
    pack = pack_for_payload(payload)
    if pack is None:  # a pack removed since the menu was shown
        s.say(texts.menu_expired(s.lang))
        return
    amount = s.credits(pack.credits)
    s.replies.append(InvoiceReply(
        title=s.t("invoice.title", credits=amount),
        description=s.t("invoice.description", credits=amount),
        payload=pack.payload, stars=pack.stars, credits=pack.credits,
    ))


def payment(s: Session, event: PaymentReceived) -> None:
    """Credit a paid invoice once per charge id, then resume whatever the user was doing."""
    pack = pack_for_payload(event.payload)
    # The stars are already paid: a payload that matches no pack (changed since the invoice)
    # still gets credits, at the base rate of one credit per star, never nothing.
    amount = pack.credits if pack and pack.stars == event.stars else event.stars
    if s.ctx.credit_topup(event.charge_id, amount):
        s.say(texts.topup_credited(s.lang, amount, s.ctx.balance()))
    else:
        s.say(s.t("topup_already", balance=s.credits(s.ctx.balance())))
    wizard.show_current(s)


# --- admin -----------------------------------------------------------------------------------


def grant(s: Session, args: str) -> None:
    """/grant <user_id> <amount> (admins only)."""
    if not s.ctx.is_admin:
        s.say(s.t("admin.only"))
        return
    parts = args.split()
    try:
        user_id, amount = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        user_id, amount = 0, 0
    if len(parts) != 2 or amount <= 0 or user_id <= 0:  # credits are only ever given
        s.say(s.t("grant.usage"))
        return
    try:
        new_balance = s.ctx.grant(user_id, amount)
    except DatabaseUnavailable:
        raise  # not the grant's fault: the update fails and is handled again later
    except TrtError as exc:
        s.say(s.t("grant.failed", error=str(exc)))
        return
    s.say(s.t("grant.done", amount=s.credits(amount), user=user_id,
              balance=s.credits(new_balance)))


def stats(s: Session) -> None:
    """/stats (admins only): the context's numbers, one per line."""
    if not s.ctx.is_admin:
        s.say(s.t("admin.only"))
        return
    lines = [s.t("stats.title")]
    for key, value in s.ctx.stats().items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {v}" for k, v in value.items())
            lines.append(f"• {key}: {inner or '—'}")
        else:
            lines.append(f"• {key}: {value}")
    s.say("\n".join(lines)[:_MAX_TEXT])


def model_switch(s: Session, args: str) -> None:
    """/model off <id> · /model on <id> (admins only): out of (or back into) the menus."""
    if not s.ctx.is_admin:
        s.say(s.t("admin.only"))
        return
    parts = args.split()
    if len(parts) != 2 or parts[0].lower() not in ("on", "off"):
        s.say(s.t("model.usage"))
        return
    switch, model_id = parts[0].lower(), parts[1]
    if model_id not in s.catalog:
        s.say(s.t("model.unknown", model=model_id[:100]))
        return
    catalog = s.ctx.set_model_enabled(model_id, switch == "on")
    if switch == "off":
        s.say(s.t("model.turned_off", model=model_id))
    else:
        s.say(s.t("model.turned_on", model=model_id,
                  price=models_menu.price_label(s, catalog.get(model_id))))


def price(s: Session, args: str) -> None:
    """/price <id> <credits> · /price <id> reset (admins only). Orders already confirmed keep
    the price their confirm screen showed."""
    if not s.ctx.is_admin:
        s.say(s.t("admin.only"))
        return
    parts = args.split()
    if len(parts) != 2:
        s.say(s.t("price.usage"))
        return
    model_id, amount = parts
    if model_id not in s.catalog:
        s.say(s.t("model.unknown", model=model_id[:100]))
        return
    if s.catalog.get(model_id).free:
        s.say(s.t("price.free_model", model=model_id))
        return
    new_price: int | None = None
    if amount.lower() != "reset":
        if not (amount.isascii() and amount.isdigit()) or not 1 <= int(amount) <= MAX_PRICE:
            s.say(s.t("price.usage"))
            return
        new_price = int(amount)
    catalog = s.ctx.set_model_price(model_id, new_price)
    shown = models_menu.price_label(s, catalog.get(model_id))
    s.say(s.t("price.reset" if new_price is None else "price.set", model=model_id, price=shown))
