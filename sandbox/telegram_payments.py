"""Payments in Telegram Stars: sendInvoice, answerPreCheckoutQuery, refundStarPayment.

The user side (``pay_invoice`` in telegram_users) creates a pre_checkout_query update; only
when the bot answers it with ``ok=True`` does a ``successful_payment`` message update follow,
with a unique ``telegram_payment_charge_id``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from sandbox.telegram_markup import check_reply_markup
from sandbox.telegram_methods import QUERY_INVALID
from sandbox.telegram_model import JSON, BotState, bad_request, now_times
from sandbox.telegram_params import Params
from sandbox.telegram_registry import bot_method

if TYPE_CHECKING:
    from sandbox.telegram_core import EmulatorCore

CURRENCIES = frozenset({"XTR", "USD", "EUR", "GBP", "RUB", "UAH", "INR"})


@bot_method("sendInvoice")
async def send_invoice(core: EmulatorCore, bot: BotState, p: Params) -> JSON:
    chat = core.chat_for_send(bot, p.chat_id())
    title, description = p.req_str("title"), p.req_str("description")
    payload, currency = p.req_str("payload"), p.req_str("currency")
    if not 1 <= len(title) <= 32:
        raise bad_request("INVOICE_TITLE_INVALID")
    if not 1 <= len(description) <= 255:
        raise bad_request("INVOICE_DESCRIPTION_INVALID")
    if not 1 <= len(payload.encode("utf-8")) <= 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    if currency not in CURRENCIES:
        raise bad_request("CURRENCY_INVALID")
    prices = p.obj("prices")
    if not isinstance(prices, list) or not prices:
        raise bad_request("can't parse prices JSON object")
    for price in prices:
        amount = price.get("amount") if isinstance(price, dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        if not price.get("label"):
            raise bad_request("can't parse prices JSON object")
    if currency == "XTR" and (len(prices) != 1 or p.has("provider_token")):
        # Stars invoices take exactly one price and no provider token.
        raise bad_request("STARS_INVOICE_INVALID")
    total = sum(int(price["amount"]) for price in prices)
    markup = p.obj("reply_markup")
    inline = check_reply_markup(markup)
    invoice_tg = {
        "title": title,
        "description": description,
        "start_parameter": p.text("start_parameter", "") or "",
        "currency": currency,
        "total_amount": total,
    }
    fields: JSON = {"invoice": invoice_tg}
    if inline:
        fields["reply_markup"] = inline
    invoice = {**invoice_tg, "payload": payload, "prices": copy.deepcopy(prices)}
    rec = core.add_message(bot, chat, "bot", "sendInvoice", fields, reply_markup=markup,
                           invoice=invoice, text=title)
    return copy.deepcopy(rec.tg)


@bot_method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    query = bot.pre_checkouts.get(p.req_str("pre_checkout_query_id"))
    if query is None or query["answered"]:
        raise bad_request(QUERY_INVALID)
    ok = p.flag("ok")
    error_message = p.text("error_message")
    if not ok and not error_message:
        raise bad_request("error_message is required when ok is False")
    query.update(answered=True, ok=ok, error_message=error_message, answered_at=now_times()[1])
    if ok:
        _complete_payment(core, bot, query)
    return True


def _complete_payment(core: EmulatorCore, bot: BotState, query: JSON) -> None:
    """Send the user's successful_payment service message as a new update."""
    chat = bot.chats[query["user_id"]]
    n = core.serial()
    charge_id = f"stxEMU{n:06d}{core.rng.getrandbits(48):012x}"
    payment = {
        "currency": query["currency"],
        "total_amount": query["total_amount"],
        "invoice_payload": query["invoice_payload"],
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": f"emu_provider_{n}",
    }
    rec = core.add_message(bot, chat, "user", "user", {"successful_payment": payment})
    update_id = core.push_update(bot, "message", copy.deepcopy(rec.tg))
    query["telegram_payment_charge_id"] = charge_id
    bot.payments[charge_id] = {
        **payment,
        "user_id": chat.id,
        "message": copy.deepcopy(rec.tg),
        "update_ids": [update_id],
        "refunded": False,
        "pre_checkout_query_id": query["id"],
    }


@bot_method("refundStarPayment")
async def refund_star_payment(core: EmulatorCore, bot: BotState, p: Params) -> bool:
    payment = bot.payments.get(p.req_str("telegram_payment_charge_id"))
    if payment is None or payment["user_id"] != p.req_int("user_id"):
        raise bad_request("CHARGE_NOT_FOUND")
    if payment["refunded"]:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    payment["refunded"] = True
    return True
